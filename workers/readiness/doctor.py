"""``doctor``: is an instance ready for a first job? Read-only checks of the connection,
the login, the integration user's roles, the facts discovery relies on, the columns and
properties that matter, and what the user may read and write (writes judged from roles,
never tried). Each check is pass, fail or unknown, with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping

from workers.config import PipelineConfig
from workers.errors import ConfigError, ServiceNowRejected, TwowayError
from workers.machinery.deps import InstanceRegistry
from workers.readiness.doctor_access import access_checks, role_checks, tables_used
from workers.readiness.doctor_instance import column_checks, fact_checks, property_checks
from workers.readiness.doctor_model import Check, DoctorReport, Status
from workers.readiness.doctor_uploads import upload_checks
from workers.servicenow import InstanceFacts, ServiceNowClient, discover

__all__ = ["Check", "DoctorReport", "Status", "doctor"]

KEYSTORE_FILES = ("client.jks", "client.p12")  # the extensions twoway attaches


def doctor(
    name: str,
    config: PipelineConfig,
    instances: InstanceRegistry,
    *,
    environ: Mapping[str, str] | None = None,
) -> DoctorReport:
    """Every check of instance profile ``name``; raises ConfigError for an unknown name."""
    profile = config.instance(name)
    checks: list[Check] = []
    try:
        user = profile.credentials(environ).username
        client = instances.client(name)
    except ConfigError as exc:
        checks.append(_check("connection", "login configured", "fail", exc.message, exc.hint))
        return DoctorReport(instance=name, url=profile.url, user="", checks=tuple(checks))
    connected = _connect(client, user)
    checks += connected
    if any(c.status == "fail" for c in connected):
        return DoctorReport(instance=name, url=profile.url, user=user, checks=tuple(checks))
    roles_found, roles = role_checks(client, user)
    facts = _facts(client)
    checks += [
        *roles_found,
        *fact_checks(client),
        *column_checks(client, facts),
        *property_checks(client),
        *upload_checks(facts, roles, KEYSTORE_FILES),
        *access_checks(client, tables_used(facts), roles),
    ]
    return DoctorReport(instance=name, url=profile.url, user=user, checks=tuple(checks))


def _connect(client: ServiceNowClient, user: str) -> list[Check]:
    reached = _check("connection", "instance reachable", "pass", client.base_url)
    try:
        client.query("sys_user", {"user_name": user}, fields=("sys_id", "user_name"), limit=1)
    except ServiceNowRejected as exc:
        if exc.status_code == 401:
            return [
                reached,
                _check("connection", "credentials accepted", "fail", exc.message, exc.hint),
            ]
    except TwowayError as exc:
        fix = exc.hint or "check the instance profile's url, the network and a proxy"
        return [_check("connection", "instance reachable", "fail", exc.message, fix)]
    return [reached, _check("connection", "credentials accepted", "pass", f"as {user}")]


def _facts(client: ServiceNowClient) -> InstanceFacts | None:
    try:
        return discover(client)
    except TwowayError:
        return None  # fact_checks says which part could not be established


def _check(group: str, name: str, status: Status, detail: str, fix: str = "") -> Check:
    return Check(group=group, name=name, status=status, detail=detail, fix=fix)
