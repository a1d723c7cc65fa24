"""``plan``: what a job request would create, change and reuse on its instance, what the
third party must install, and every reason it would be refused, without writing anything
or asking the CA.

Admission's checks (``examine``) give the refusals of the request, the configuration and
the target (a take-over without ``replace`` among them); the CA profile is checked from
the configuration and local files; each record is read from the instance as it is now.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from messages import JobRequest
from workers.config import PipelineConfig
from workers.errors import ConfigError, ServiceNowConflict, TwowayError
from workers.machinery.deps import InstanceRegistry
from workers.readiness.admission import Examined, examine
from workers.readiness.doctor_uploads import ROLE_HINT, attach_role_problem
from workers.readiness.plan_endpoint import endpoint_refusal
from workers.readiness.plan_model import (
    FieldChange,
    Plan,
    PlannedRecord,
    PlanRefusal,
    ThirdPartyPlan,
    TrustAnchor,
    refusal_of,
)
from workers.readiness.plan_records import Records, plan_records, server_sha256
from workers.readiness.plan_third_party import ca_refusals, third_party
from workers.readiness.platform_problems import key_size_note

__all__ = [
    "FieldChange",
    "Plan",
    "PlanRefusal",
    "PlannedRecord",
    "ThirdPartyPlan",
    "TrustAnchor",
    "plan_job",
]


def plan_job(
    raw: JobRequest | Mapping[str, Any],
    config: PipelineConfig,
    instances: InstanceRegistry,
    *,
    state_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> Plan:
    """The plan of one job request (read-only); ``ready`` when nothing would refuse it."""
    try:
        request = raw if isinstance(raw, JobRequest) else JobRequest.model_validate(raw)
    except ValidationError as exc:
        return Plan(
            ready=False,
            refusals=tuple(_field_refusals(exc)),
            notes=("the instance was not read: fix the request's fields first",),
        )
    refusals: list[PlanRefusal] = []
    notes: list[str] = []
    try:
        examined = examine(request, config, instances, records_checked=True)
    except TwowayError as exc:  # the instance cannot be reached, or refuses our user
        examined = Examined()
        refusals.append(refusal_of(exc))
        notes.append(
            f"the instance could not be examined: twoway doctor --instance {request.instance}"
            " says what the integration user lacks"
        )
    refusals += [refusal_of(r) for r in examined.refusals]
    records = Records()
    if examined.instance is not None and examined.target is not None:
        records = plan_records(request, examined.instance, examined.target)
        refusals += records.refusals
        gate = _attach_role(request, config, examined, environ)
        if gate:
            refusals.append(refusal_of(ServiceNowConflict(gate, hint=ROLE_HINT)))
        unreachable = endpoint_refusal(request, examined.target.endpoint)
        if unreachable is not None:
            refusals.append(refusal_of(unreachable))
    profile = config.ca.get(request.ca.profile)
    party = None
    if profile is not None:
        env = os.environ if environ is None else environ
        refusals += [refusal_of(r) for r in ca_refusals(request.ca.profile, profile, env)]
        party = third_party(
            request,
            profile,
            state_dir=state_dir,
            endpoint=examined.target.endpoint if examined.target else "",
            trust_sha256=server_sha256(request),
        )
    return Plan(
        ready=not refusals,
        instance=request.instance,
        target=f"{request.target.kind.value.upper()} message {request.target.name!r}",
        refusals=tuple(refusals),
        creates=tuple(records.creates),
        changes=tuple(records.changes),
        reuses=tuple(records.reuses),
        third_party=party,
        notes=tuple(notes + _notes(request, examined)),
    )


def _field_refusals(exc: ValidationError) -> list[PlanRefusal]:
    return [
        PlanRefusal(
            error="RequestInvalid",
            message=f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}",
            hint="see the JobRequest schema in the OpenAPI document",
        )
        for err in exc.errors()
    ]


def _attach_role(
    request: JobRequest,
    config: PipelineConfig,
    examined: Examined,
    environ: Mapping[str, str] | None,
) -> str | None:
    """glide.attachment.role against the integration user (None where the login is not in
    this process's environment: doctor, run where it is, checks it)."""
    assert examined.instance is not None
    try:
        user = config.instance(request.instance).credentials(environ).username
    except ConfigError:
        return None
    return attach_role_problem(examined.instance, user)


def _notes(request: JobRequest, examined: Examined) -> list[str]:
    notes = []
    for used in examined.in_use:
        if used.protocol != request.protocol_profile.name and request.replace:
            notes.append(
                f"replace: the message now uses protocol profile {used.protocol!r} (keystore"
                f" {used.keystore_name!r}); it keeps it until the new keystore is proven"
            )
        if used.problem:
            notes.append(f"the configuration in use cannot serve mutual auth: {used.problem}")
    if not request.enable.prove_first:
        notes.append("enable.prove_first is false: the switch will be unproven (recorded)")
    big_key = key_size_note(request.key.type)
    if big_key:
        notes.append(big_key)
    return notes
