"""``conformance``: does an instance behave as twoway assumes? The checks that define the
sandbox's behaviour (docs/servicenow.md), run against any instance: the wire (paths,
envelopes, status codes, string values), the dictionary types, the choice values and
columns, attachment fields, the properties and the known platform problems. Read-only,
unless ``scratch``: then a few clearly named records are written, read back and deleted
(``conformance_scratch``). ``ok`` is false wherever the instance disagrees.

The doctor's checks of facts, columns and properties are reused, not written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from workers.config import PipelineConfig
from workers.errors import ConfigError, TwowayError
from workers.machinery.deps import InstanceRegistry
from workers.readiness.conformance_scratch import scratch_checks
from workers.readiness.conformance_wire import attachment_checks, dictionary_checks, wire_checks
from workers.readiness.doctor_instance import column_checks, fact_checks, property_checks
from workers.readiness.doctor_model import Check, DoctorReport
from workers.readiness.doctor_uploads import upload_checks
from workers.servicenow import InstanceFacts, ServiceNowClient, discover
from workers.servicenow.survey import user_roles

__all__ = ["ConformanceReport", "conformance"]

SOURCE = "docs/servicenow.md"


class ConformanceReport(DoctorReport):
    """A doctor-shaped report, plus whether records were written, and where the facts are."""

    scratch: bool = False
    facts_source: str = SOURCE


def conformance(
    name: str,
    config: PipelineConfig,
    instances: InstanceRegistry,
    *,
    scratch: bool = False,
    environ: Mapping[str, str] | None = None,
    after_create: Callable[[], None] = lambda: None,
) -> ConformanceReport:
    """Every conformance check of instance profile ``name``."""
    profile = config.instance(name)
    user = profile.credentials(environ).username
    client = instances.client(name)
    facts = _facts(client)
    groups: list[Callable[[], list[Check]]] = [
        lambda: wire_checks(client),
        lambda: dictionary_checks(client),
        lambda: fact_checks(client),
        lambda: column_checks(client, facts),
        lambda: attachment_checks(client),
        lambda: property_checks(client),
        lambda: upload_checks(facts, _roles(client, user), ("client.jks", "client.p12")),
    ]
    if scratch and facts is not None:
        groups.append(lambda: scratch_checks(client, facts, after_create=after_create))
    checks: list[Check] = []
    for group in groups:
        checks += _attempt(group)
    return ConformanceReport(
        instance=name, url=profile.url, user=user, checks=tuple(checks), scratch=scratch
    )


def _facts(client: ServiceNowClient) -> InstanceFacts | None:
    try:
        return discover(client)
    except (ConfigError, TwowayError):
        return None  # fact_checks says which part is missing


def _roles(client: ServiceNowClient, user: str) -> tuple[str, ...] | None:
    try:
        return user_roles(client, user)
    except TwowayError:
        return None  # the role check then says "unknown"


def _attempt(group: Callable[[], list[Check]]) -> list[Check]:
    try:
        return group()
    except TwowayError as exc:
        return [
            Check(
                group="conformance",
                name="a group of checks could not run",
                status="fail",
                detail=exc.message,
                fix=exc.hint,
            )
        ]
