"""Admission: a job request is checked against the configuration and the instance before
anything is created. Every refusal names the field and says what is allowed.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from pydantic import ValidationError

from messages import JobRequest

from .config import PipelineConfig, format_validation_error
from .deps import InstanceRegistry
from .errors import ConfigError, RequestInvalid

__all__ = ["admit", "fetch_allowed", "parse_request"]


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
    try:
        instance = instances.get(request.instance)
    except ConfigError as exc:
        raise RequestInvalid(f"instance: {exc.message}", hint=exc.hint) from exc
    target = request.target
    if instance.find_target(target.kind.value, target.name) is None:
        raise RequestInvalid(
            f"target.name: no {target.kind.value.upper()} message named {target.name!r}"
            f" on instance {request.instance!r}",
            hint="names are exact and case-sensitive; an ACL may also hide the message",
        )


def _check_fetch(request: JobRequest, config: PipelineConfig) -> None:
    """A pinned fetch only from a host the instance profile lets jobs fetch from."""
    fetch = request.server_certificate.fetch
    if fetch is None:
        return
    allowed = config.instances[request.instance].fetch_hosts
    if not any(fetch_allowed(pattern, fetch.host, fetch.port) for pattern in allowed):
        raise RequestInvalid(
            f"server_certificate.fetch: {fetch.host}:{fetch.port} is not a host and port"
            f" instance profile {request.instance!r} may fetch certificates from",
            hint="add 'host:port' to the profile's fetch_hosts in pipeline.toml, or give"
            " the certificate itself as 'pem' or 'der_b64'",
        )


def fetch_allowed(pattern: str, host: str, port: int) -> bool:
    """``pattern`` is ``host`` (port 443 only), ``host:port`` or ``host:*``; the host part
    an fnmatch pattern (``*.partner.example``)."""
    host_pattern, _, port_pattern = pattern.lower().partition(":")
    if not fnmatch.fnmatchcase(host, host_pattern):
        return False
    if port_pattern in ("", "443"):
        return port == 443
    return port_pattern == "*" or port_pattern == str(port)
