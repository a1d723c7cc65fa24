"""Runbook step 8: tick "Use mutual authentication" and pick the profile, on the message
and on each of its HTTP methods, but only once the new keystore is proven.

Before anything on the message changes, the keystore attached on the instance handshakes
with the message's endpoint (``workers.stages.prove``), unless the request opted out
(``enable.prove_first = false``, noted as ``switch_unproven``). When the third party
answers that it does not accept our certificate yet, the job pauses in
``waiting_for_third_party`` with the message untouched: the event names what the partner
must install; the poller re-probes, and an operator or the request workflow can say it
is installed. A rotated profile that messages already use is pointed at the new keystore
here, after the proof, not in ``create-profile``. A message (or method) whose endpoint's
scheme names the profile (``mauth://host``) is on it already and is not written. The
values found first are kept for rollback, with the names of the profiles they use (read
as ``plan`` reads them). A renewal proves and switches in ``verify`` instead; a renewal
whose new certificate has another issuer (a migration) proves here too, and waits for the
third party when it refuses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from messages import JobState, KeystoreUploaded, MutualAuthEnabled, ProfileCreated, Stage
from workers import pki
from workers.errors import VerificationFailed
from workers.machinery.context import StageContext
from workers.machinery.core import Paused
from workers.servicenow import TargetRef, tables
from workers.stages.prove import find_target, partner_refused, prove_attached
from workers.store.artifacts import Artifact

__all__ = ["changes_ca", "enable", "find_target", "third_party_needs"]


def enable(msg: ProfileCreated, ctx: StageContext) -> MutualAuthEnabled | Paused:
    instance = ctx.instance()
    target = find_target(ctx)
    if ctx.artifact(Artifact.PREVIOUS_VALUES) is None:  # the first run sees the values before us
        previous = instance.read_mutual_auth(target)
        ctx.keep_all(
            {
                Artifact.PREVIOUS_VALUES: json.dumps(previous, sort_keys=True).encode(),
                Artifact.PREVIOUS_PROFILE_NAMES: _named(instance.profiles_used(target, previous)),
            }
        )
    if ctx.job.renews is None or changes_ca(ctx):
        paused = _prove_or_wait(ctx, target)
        if paused is not None:
            return paused
    if ctx.job.renews is None:
        _point_rotated_profile(msg, ctx)
    instance.enable_mutual_auth(target, msg.profile_sys_id, protocol=msg.protocol)
    ctx.note(
        "mutual_auth_enabled",
        table=target.table,
        sys_id=target.sys_id,
        methods=list(target.method_sys_ids),
        through_scheme=sorted(target.through_scheme(msg.protocol)),  # left as they are
    )
    return MutualAuthEnabled(
        job_id=msg.job_id,
        profile_sys_id=msg.profile_sys_id,
        target_table=target.table,
        target_sys_id=target.sys_id,
        method_sys_ids=list(target.method_sys_ids),
    )


def _named(profiles: dict[str, tuple[str, str]]) -> bytes:
    """The profiles the previous values name, by name (``{sys_id: {column: name}}``), for
    people: the values themselves hold only the profiles' sys_ids."""
    named = {s: {column: name} for s, (column, name) in profiles.items() if name}
    return json.dumps(named, sort_keys=True).encode()


def changes_ca(ctx: StageContext) -> bool:
    """A renewal whose certificate comes from another CA than the one it replaces (a
    migration, or an adopted integration renewed at twoway's CA): the partner must trust
    the new CA before the switch, so it proves here and waits for the third party as a
    first job does."""
    if ctx.job.renews is None:
        return False
    old = ctx.deps.store.artifacts.get(ctx.job.renews, Artifact.CERTIFICATE)
    new = ctx.artifact(Artifact.CERTIFICATE)
    if old is None or new is None:
        return True
    return pki.issuer_of(old) != pki.issuer_of(new)


def _prove_or_wait(ctx: StageContext, target: TargetRef) -> Paused | None:
    if not ctx.request.enable.prove_first:
        ctx.note(
            "switch_unproven",
            endpoint=target.endpoint,
            reason="the request set enable.prove_first = false: the message is switched"
            " without a handshake from twoway's host; verify's handshake is the first proof",
        )
        return None
    uploaded = ctx.output(Stage.UPLOAD_KEYSTORE, KeystoreUploaded)
    try:
        result = prove_attached(ctx, uploaded, target.endpoint)
    except VerificationFailed as exc:
        if not partner_refused(exc):
            raise
        return Paused(
            request_id="",
            reason="waiting for the third party to install our client certificate",
            state=JobState.WAITING_FOR_THIRD_PARTY,
            detail=third_party_needs(ctx, target.endpoint, exc),
        )
    ctx.note("switch_proved", endpoint=target.endpoint, protocol=result.protocol)
    return None


def third_party_needs(ctx: StageContext, endpoint: str, exc: VerificationFailed) -> dict[str, Any]:
    """What the wait's event tells the partner and the operator: their answer, what to
    install (links to the API, never key material), and until when the job waits."""
    job = ctx.job.id
    settings = ctx.deps.config.third_party
    deadline = datetime.now(UTC) + timedelta(days=settings.max_wait_days)
    return {
        "endpoint": endpoint,
        "answer": exc.message,
        "hint": exc.hint,
        "install": {
            "client_certificate_pem": f"/v1/jobs/{job}/client-certificate?format=pem",
            "client_certificate_der": f"/v1/jobs/{job}/client-certificate?format=der",
            "ca_chain_pem": f"/v1/jobs/{job}/ca-chain",
        },
        "deadline": deadline.isoformat(),
        "resume": f"POST /v1/jobs/{job}/partner-installed, or wait: the poller re-probes"
        f" every {settings.probe_every_s:g} s",
    }


def _point_rotated_profile(msg: ProfileCreated, ctx: StageContext) -> None:
    """A profile the job rotates while messages use it moves to the new keystore only
    now, after the proof (``create-profile`` left it serving the old one)."""
    spec, instance = ctx.request.protocol_profile, ctx.instance()
    found = instance.find_protocol_profile(spec.name)
    if found is None or found.keystore == msg.keystore_sys_id:
        return
    record = instance.ensure_protocol_profile(
        protocol=spec.name, port=spec.port, keystore_sys_id=msg.keystore_sys_id, rotate=True
    )
    ctx.note(
        "instance_record",
        table=tables.PROFILE,
        sys_id=record.sys_id,
        created=False,
        what="profile",
        previous_keystore=record.previous_keystore,
    )
