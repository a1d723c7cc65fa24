"""Admission: a job request is checked against the configuration and the instance before
anything is created. Every refusal names the field and says what is allowed.

The instance lookup takes one of the instance's call slots like any other call; when all
are taken, admission waits for one (up to ``ADMISSION_PATIENCE_S``) instead of refusing
the request at once: a client submitting a job would rather wait a moment than retry.
"""

from __future__ import annotations

import fnmatch
import time
from typing import Any

from pydantic import ValidationError

from messages import JobRequest

from .config import PipelineConfig, format_validation_error
from .deps import InstanceRegistry
from .errors import ConfigError, InstanceBusy, RequestInvalid

__all__ = ["ADMISSION_PATIENCE_S", "admit", "parse_request"]

ADMISSION_PATIENCE_S = 30.0


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
    if request.instance not in config.instances:
        raise RequestInvalid(
            f"instance: no instance profile {request.instance!r}",
            hint=f"pipeline.toml defines {sorted(config.instances)}",
        )
    if request.ca.profile not in config.ca:
        raise RequestInvalid(
            f"ca.profile: no CA profile {request.ca.profile!r}",
            hint=f"pipeline.toml defines {sorted(config.ca)}",
        )
    _check_fetch(request, config)
    adapter = config.ca[request.ca.profile].adapter
    if request.ca.adapter is not None and request.ca.adapter != adapter:
        raise RequestInvalid(
            f"ca.adapter: CA profile {request.ca.profile!r} uses the {adapter!r} adapter,"
            f" not {request.ca.adapter!r}",
            hint="leave ca.adapter out, or name the profile's adapter",
        )
    target = request.target
    deadline = time.monotonic() + ADMISSION_PATIENCE_S
    while True:
        try:
            found = _find_target(request, instances)
            break
        except InstanceBusy:  # every slot taken by workers: wait for one, then 503
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    if found is None:
        raise RequestInvalid(
            f"target.name: no {target.kind.value.upper()} message named {target.name!r}"
            f" on instance {request.instance!r}",
            hint="names are exact and case-sensitive; an ACL may also hide the message",
        )


def _find_target(request: JobRequest, instances: InstanceRegistry) -> object | None:
    try:
        instance = instances.get(request.instance)  # discovers the instance's facts once
    except ConfigError as exc:
        raise RequestInvalid(f"instance: {exc.message}", hint=exc.hint) from exc
    return instance.find_target(request.target.kind.value, request.target.name)


def _check_fetch(request: JobRequest, config: PipelineConfig) -> None:
    """A pinned fetch only from a host the instance profile lets jobs fetch from."""
    fetch = request.server_certificate.fetch
    if fetch is None:
        return
    allowed = config.instances[request.instance].fetch_hosts
    if not any(fnmatch.fnmatchcase(fetch.host, pattern.lower()) for pattern in allowed):
        raise RequestInvalid(
            f"server_certificate.fetch.host: {fetch.host!r} is not a host instance profile"
            f" {request.instance!r} may fetch certificates from",
            hint="add it to the profile's fetch_hosts in pipeline.toml, or give the"
            " certificate itself as 'pem' or 'der_b64'",
        )
