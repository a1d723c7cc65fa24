"""Admission: a job request is checked against the configuration and the instance before
anything is created. Every refusal names the field and says what is allowed.

``examine`` collects every refusal it can establish (``plan`` shows them all); ``admit``
refuses with the first, so a submitted job fails fast with one clear error.

The instance reads take one of the instance's call slots like any other call; when all
are taken, admission waits for one (up to ``ADMISSION_PATIENCE_S``) instead of refusing
at once: a client submitting a job would rather wait a moment than retry.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from messages import JobRequest
from workers.config import PipelineConfig, format_validation_error
from workers.errors import ConfigError, InstanceBusy, RequestInvalid, TakeOverRefused
from workers.machinery.deps import InstanceRegistry
from workers.readiness.record_checks import record_refusals
from workers.servicenow import Instance, ProfileInUse, TargetRef
from workers.store import JobRecord, Store

__all__ = [
    "ADMISSION_PATIENCE_S",
    "Examined",
    "admit",
    "admit_or_twin",
    "examine",
    "fetch_allowed",
    "parse_request",
    "refuse_take_over",
    "take_over_refusal",
]


ADMISSION_PATIENCE_S = 30.0
T = TypeVar("T")


def _patiently(read: Callable[[], T]) -> T:
    """``read()``, waiting for one of the instance's call slots while workers hold them all
    (then ``InstanceBusy``, a 503)."""
    deadline = time.monotonic() + ADMISSION_PATIENCE_S
    while True:
        try:
            return read()
        except InstanceBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Examined:
    """What admission found: its refusals, and the instance and target when it got there."""

    refusals: list[RequestInvalid] = field(default_factory=list)
    instance: Instance | None = None
    target: TargetRef | None = None
    in_use: list[ProfileInUse] = field(default_factory=list)


def parse_request(raw: Any) -> JobRequest:
    """A JobRequest from JSON-like data, or RequestInvalid listing each bad field."""
    try:
        return JobRequest.model_validate(raw)
    except ValidationError as exc:
        raise RequestInvalid(
            f"job request refused: {format_validation_error(exc)}",
            hint="fix the fields named; see the JobRequest schema in the OpenAPI document",
        ) from exc


def admit(request: JobRequest, config: PipelineConfig, instances: InstanceRegistry) -> None:
    """Refuse a request that names an unknown profile or a target the instance lacks."""
    refusals = examine(request, config, instances).refusals
    if refusals:
        raise refusals[0]


def admit_or_twin(
    request: JobRequest,
    config: PipelineConfig,
    instances: InstanceRegistry,
    store: Store,
    idempotency_key: str | None,
) -> JobRecord | None:
    """Admit ``request``, or return the job already made under ``idempotency_key`` (None
    when there is none and the request is admitted). The job is looked for again after a
    refusal: its twin, sent at the same time, may have made the records admission found."""
    twin = store.job_for_key(idempotency_key, request) if idempotency_key else None
    if twin is not None:
        return twin
    try:
        admit(request, config, instances)
    except RequestInvalid:
        twin = store.job_for_key(idempotency_key, request) if idempotency_key else None
        if twin is None:
            raise
    return twin


def examine(
    request: JobRequest,
    config: PipelineConfig,
    instances: InstanceRegistry,
    *,
    records_checked: bool = False,
) -> Examined:
    """Every refusal of the configuration checks, then of the instance (read-only): the
    records the job would collide with too, unless the caller checks them itself
    (``records_checked``: ``plan`` does, with every record it shows)."""
    found = Examined(refusals=_config_refusals(request, config))
    if request.instance not in config.instances:
        return found
    try:
        found.instance = _patiently(lambda: instances.get(request.instance))
    except ConfigError as exc:
        found.refusals.append(RequestInvalid(f"instance: {exc.message}", hint=exc.hint))
        return found
    target, instance = request.target, found.instance
    found.target = _patiently(lambda: instance.find_target(target.kind.value, target.name))
    if found.target is None:
        found.refusals.append(
            RequestInvalid(
                f"target.name: no {target.kind.value.upper()} message named {target.name!r}"
                f" on instance {request.instance!r}",
                hint="names are exact and case-sensitive; an ACL may also hide the message",
            )
        )
        return found
    where = found.target
    found.in_use = _patiently(lambda: instance.profiles_in_use(where))
    refusal = take_over_refusal(request, found.in_use)
    if refusal is not None:
        found.refusals.append(refusal)
    if not records_checked:
        found.refusals += _patiently(lambda: record_refusals(request, instance))
    return found


def refuse_take_over(request: JobRequest, in_use: list[ProfileInUse]) -> None:
    """A message on mutual auth with another profile changes only with ``replace``."""
    refusal = take_over_refusal(request, in_use)
    if refusal is not None:
        raise refusal


def take_over_refusal(request: JobRequest, in_use: list[ProfileInUse]) -> TakeOverRefused | None:
    """The refusal of a silent take-over, naming the profiles in use (None: allowed)."""
    others = [p for p in in_use if p.protocol != request.protocol_profile.name]
    if not others or request.replace:
        return None
    named = "; ".join(
        f"protocol profile {p.protocol or p.sys_id!r} with keystore"
        f" {p.keystore_name or p.keystore_sys_id or 'none'!r} (on {len(p.used_by)} record(s))"
        for p in others
    )
    return TakeOverRefused(
        f"replace: {request.target.name!r} already uses mutual authentication: {named}",
        hint="a working integration is switched to this job's certificate only when the"
        ' request says so: set "replace": true (the old configuration stays until the new'
        " one is proven), or name the profile in use in protocol_profile.name",
    )


def _config_refusals(request: JobRequest, config: PipelineConfig) -> list[RequestInvalid]:
    refusals = []
    if request.instance not in config.instances:
        refusals.append(
            RequestInvalid(
                f"instance: no instance profile {request.instance!r}",
                hint=f"pipeline.toml defines {sorted(config.instances)}",
            )
        )
    if request.ca.profile not in config.ca:
        refusals.append(
            RequestInvalid(
                f"ca.profile: no CA profile {request.ca.profile!r}",
                hint=f"pipeline.toml defines {sorted(config.ca)}",
            )
        )
    else:
        adapter = config.ca[request.ca.profile].adapter
        if request.ca.adapter is not None and request.ca.adapter != adapter:
            refusals.append(
                RequestInvalid(
                    f"ca.adapter: CA profile {request.ca.profile!r} uses the {adapter!r}"
                    f" adapter, not {request.ca.adapter!r}",
                    hint="leave ca.adapter out, or name the profile's adapter",
                )
            )
    if request.instance in config.instances:
        refusals += _fetch_refusals(request, config)
    return refusals


def _fetch_refusals(request: JobRequest, config: PipelineConfig) -> list[RequestInvalid]:
    """A pinned fetch only from a host the instance profile lets jobs fetch from."""
    fetch = request.server_certificate.fetch
    if fetch is None:
        return []
    allowed = config.instances[request.instance].fetch_hosts
    if any(fetch_allowed(pattern, fetch.host, fetch.port) for pattern in allowed):
        return []
    return [
        RequestInvalid(
            f"server_certificate.fetch: {fetch.host}:{fetch.port} is not a host and port"
            f" instance profile {request.instance!r} may fetch certificates from",
            hint="add 'host:port' to the profile's fetch_hosts in pipeline.toml, or give"
            " the certificate itself as 'pem' or 'der_b64'",
        )
    ]


def fetch_allowed(pattern: str, host: str, port: int) -> bool:
    """``pattern`` is ``host`` (port 443 only), ``host:port`` or ``host:*``; the host part
    an fnmatch pattern (``*.partner.example``)."""
    host_pattern, _, port_pattern = pattern.lower().partition(":")
    if not fnmatch.fnmatchcase(host, host_pattern):
        return False
    if port_pattern in ("", "443"):
        return port == 443
    return port_pattern == "*" or port_pattern == str(port)
