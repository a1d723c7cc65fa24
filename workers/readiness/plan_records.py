"""The instance's side of a plan: each record the runbook's steps would create, change or
reuse, read from the instance now (read-only), in runbook order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from messages import JobRequest, KeystoreFormat
from workers import pki
from workers.errors import ServiceNowConflict, TwowayError
from workers.readiness.doctor_uploads import mime_problem
from workers.readiness.plan_model import (
    FieldChange,
    PlannedRecord,
    PlanRefusal,
    What,
    refusal_of,
)
from workers.readiness.record_checks import keystore_name_refusal, profile_refusal
from workers.servicenow import Instance, TargetRef, tables
from workers.servicenow.facts import MIME_VALIDATION
from workers.servicenow.survey import (
    certificates_named,
    find_trust_by_sha256,
    keystore_record_type,
    method_names,
    mutual_auth_refusals,
)

__all__ = ["Records", "plan_records", "server_sha256"]


@dataclass
class Records:
    creates: list[PlannedRecord] = field(default_factory=list)
    changes: list[PlannedRecord] = field(default_factory=list)
    reuses: list[PlannedRecord] = field(default_factory=list)
    refusals: list[PlanRefusal] = field(default_factory=list)

    def add(self, record: PlannedRecord, kind: str) -> None:
        {"create": self.creates, "change": self.changes, "reuse": self.reuses}[kind].append(record)


def server_sha256(request: JobRequest) -> str:
    """SHA-256 of the third party's server certificate: as given, or the fetch's pin."""
    given = request.server_certificate
    if given.fetch is not None:
        return given.fetch.sha256
    der = given.der_bytes() if given.der_b64 is not None else None
    if der is None:
        assert given.pem is not None
        der = pki.cert_to_der(pki.parse_certificates(given.pem, what="server_certificate")[0])
    return pki.sha256_fingerprint(pki.parse_certificates(der)[0])


def plan_records(request: JobRequest, instance: Instance, target: TargetRef) -> Records:
    """Keystore, trust, profile, then the message and its methods; a section that cannot
    be read becomes a refusal and the others go on."""
    records = Records()
    keystore_name = request.keystore.record_name
    steps: list[Callable[[], None]] = [
        lambda: _keystore(request, instance, records),
        lambda: _trust(request, instance, records),
        lambda: _profile(request, instance, records, keystore_name),
        lambda: _message(request, instance, target, records),
    ]
    for step in steps:
        try:
            step()
        except TwowayError as exc:
            records.refusals.append(refusal_of(exc))
    return records


def _keystore(request: JobRequest, instance: Instance, records: Records) -> None:
    spec = request.keystore
    pkcs12 = spec.format is KeystoreFormat.PKCS12
    file_name = f"{spec.alias}.{pki.file_extension(spec.format)}"
    try:
        record_type = keystore_record_type(instance.facts, pkcs12=pkcs12)
    except ServiceNowConflict as exc:
        records.refusals.append(refusal_of(exc))
        record_type = "(none)"
    taken = keystore_name_refusal(request, instance)
    if taken is not None:
        records.refusals.append(refusal_of(taken))
    if not instance.facts.extension_allowed(file_name):
        allowed = ", ".join(instance.facts.attachment_extensions)
        records.refusals.append(
            refusal_of(
                ServiceNowConflict(
                    f"the instance does not allow attachments named {file_name!r}"
                    f" (glide.attachment.extensions: {allowed})",
                    hint="add jks to glide.attachment.extensions (twoway doctor checks it)",
                )
            )
        )
    mime = mime_problem(instance.facts, file_name)
    if mime:
        hint = f"set {MIME_VALIDATION} to false (twoway doctor checks it)"
        records.refusals.append(refusal_of(ServiceNowConflict(mime, hint=hint)))
    new = (
        ("name", spec.record_name),
        ("type", f"{record_type} ({'PKCS12 Key Store' if pkcs12 else 'Java Key Store'})"),
        ("active", "false, then true once the keystore is attached and its password set"),
        ("key_store_password", "(random, made by twoway; never shown)"),
        (
            "attachment",
            f"{file_name}: the {spec.format.value.upper()} (key pair under alias"
            f" {spec.alias!r}, full chain)",
        ),
        ("short_description", f"client certificate for {request.target.name} twoway job <id>"),
    )
    records.add(_created("keystore", tables.CERTIFICATE, spec.record_name, new), "create")


def _trust(request: JobRequest, instance: Instance, records: Records) -> None:
    sha256 = server_sha256(request)
    found = find_trust_by_sha256(instance.client, instance.facts, sha256)
    if found is not None:
        name = str(found.get("name", ""))
        note = f"found by fingerprint SHA-256 {sha256}"
        records.add(
            PlannedRecord(
                what="trust",
                table=tables.CERTIFICATE,
                name=name,
                sys_id=str(found["sys_id"]),
                note=note,
            ),
            "reuse",
        )
        return
    name = f"twoway trust {request.protocol_profile.name} {sha256[:12]}"
    if certificates_named(instance.client, name):
        records.refusals.append(
            refusal_of(
                ServiceNowConflict(
                    f"a certificate record named {name!r} exists and does not hold this"
                    " server certificate",
                    hint="rename or delete that record; names must be unique",
                )
            )
        )
    facts = instance.facts
    as_der = request.server_certificate.der_b64 is not None
    holds = ("attachment", "the DER certificate") if as_der else ("pem_certificate", "the PEM")
    new = (
        ("name", name),
        ("type", f"{facts.trust_type} (Trust Store Cert)"),
        ("format", facts.format_der if as_der else facts.format_pem),
        holds,
        ("active", "true"),
        ("short_description", f"twoway trust sha256:{sha256}"),
    )
    records.add(
        _created("trust", tables.CERTIFICATE, name, new, f"no record holds SHA-256 {sha256}"),
        "create",
    )


def _profile(request: JobRequest, instance: Instance, records: Records, keystore: str) -> None:
    spec = request.protocol_profile
    found = instance.find_protocol_profile(spec.name)
    new_keystore = f"{keystore} (the new keystore record)"
    if found is None:
        new = (
            ("protocol", spec.name),
            ("default_port", str(spec.port)),
            ("keystore", new_keystore),
        )
        records.add(_created("profile", tables.PROFILE, spec.name, new), "create")
        return
    old = instance.profile_in_use(found.sys_id)
    old_keystore = old.keystore_name or found.keystore or "(none)"
    refusal = profile_refusal(request, old_keystore)
    if refusal is not None:
        records.refusals.append(refusal_of(refusal))
        return
    users = instance.profile_users(found.sys_id, protocol=found.protocol)
    fields = [FieldChange(field="keystore", before=old_keystore, after=new_keystore)]
    if found.default_port != str(spec.port):
        fields.append(
            FieldChange(field="default_port", before=found.default_port, after=str(spec.port))
        )
    note = f"rotate: every record using it moves too ({len(users)} record(s))"
    records.add(
        PlannedRecord(
            what="profile",
            table=tables.PROFILE,
            name=spec.name,
            sys_id=found.sys_id,
            fields=tuple(fields),
            note=note,
        ),
        "change",
    )


def _message(request: JobRequest, instance: Instance, target: TargetRef, records: Records) -> None:
    state = instance.read_mutual_auth(target)
    names = method_names(instance.client, target)
    problems = [
        p
        for sys_id, row in state.items()
        for p in mutual_auth_refusals(instance.facts, sys_id, row)
    ]
    if problems:
        records.refusals.append(
            refusal_of(
                ServiceNowConflict(
                    f"mutual auth cannot work on {target.name!r}: " + "; ".join(problems),
                    hint="mutual auth needs basic or no authentication and no MID server"
                    " (servicenow-api.md 4.3, 6.4)",
                )
            )
        )
    profiles = instance.profiles_used(target, state)
    by_scheme = target.through_scheme(request.protocol_profile.name)  # enable leaves them
    for sys_id, row in state.items():
        mutual = instance.mutual_columns(target, sys_id)[0]
        profile, now_profile = profiles[sys_id]
        fields = tuple(
            FieldChange(field=column, before=before, after=after)
            for column, before, after in (
                (mutual, row.get(mutual, ""), "true"),
                (profile, now_profile, request.protocol_profile.name),
            )
            if before != after and sys_id not in by_scheme
        )
        record = PlannedRecord(
            what="message" if sys_id == target.sys_id else "method",
            table=target.table_of(sys_id),
            name=names.get(sys_id, sys_id),
            sys_id=sys_id,
            fields=fields,
            note="on the profile through its endpoint's scheme" if sys_id in by_scheme else "",
        )
        records.add(record, "change" if fields else "reuse")


def _created(
    what: What, table: str, name: str, values: tuple[tuple[str, str], ...], note: str = ""
) -> PlannedRecord:
    return PlannedRecord(
        what=what,
        table=table,
        name=name,
        fields=tuple(FieldChange(field=k, before=None, after=v) for k, v in values),
        note=note,
    )
