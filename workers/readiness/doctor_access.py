"""Doctor's checks of the integration user: its roles, and what it may read and write.

Reading is tried (a GET of one row); writing never is: it is judged from the user's roles
against the ACLs the runbook names (admin for certificates and profiles, web_service_admin
or admin for messages), and is 'unknown' when the roles cannot be read.
"""

from __future__ import annotations

from collections.abc import Sequence

from workers.errors import ServiceNowRejected, TwowayError
from workers.readiness.doctor_model import Check
from workers.servicenow import InstanceFacts, ServiceNowClient
from workers.servicenow.survey import user_roles

__all__ = ["access_checks", "role_checks", "tables_used"]

_ADMIN = ("admin",)
_WEB_SERVICES = ("web_service_admin", "admin")
_GRANT = "grant it to the integration user (System Security > Users > Roles)"


def tables_used(facts: InstanceFacts | None) -> dict[str, tuple[str, ...]]:
    """Each table the pipeline writes or reads, with the roles whose ACL lets it write."""
    tables: dict[str, tuple[str, ...]] = {
        "sys_certificate": _ADMIN,
        "sys_attachment": _ADMIN,  # attaching needs write on sys_certificate (2.1)
        "sys_protocol_profile": _ADMIN,
        "sys_rest_message": _WEB_SERVICES,
        "sys_rest_message_fn": _WEB_SERVICES,
        "sys_soap_message": _WEB_SERVICES,
    }
    if facts is not None and facts.soap_function_table:
        tables[facts.soap_function_table] = _WEB_SERVICES
    for read_only in ("sys_choice", "sys_dictionary", "sys_properties", "syslog"):
        tables[read_only] = ()
    return tables


def role_checks(client: ServiceNowClient, user: str) -> tuple[list[Check], tuple[str, ...] | None]:
    """The user's roles (None when they cannot be read) and a check per runbook need."""
    try:
        roles = user_roles(client, user)
        problem = (
            "" if roles is not None else f"no sys_user record with user_name {user!r} is visible"
        )
    except TwowayError as exc:
        roles, problem = None, f"cannot read them: {exc.message}"
    needs = (
        ("admin (certificates, protocol profiles)", _ADMIN),
        ("web_service_admin or admin (REST and SOAP messages)", _WEB_SERVICES),
    )
    checks = []
    for name, wanted in needs:
        if roles is None:
            checks.append(
                Check(
                    group="roles",
                    name=name,
                    status="unknown",
                    detail=problem,
                    fix="let the user read sys_user and sys_user_has_role, or check by hand",
                )
            )
            continue
        held = any(role in roles for role in wanted)
        checks.append(
            Check(
                group="roles",
                name=name,
                status="pass" if held else "fail",
                detail=f"roles: {', '.join(roles) or '(none)'}",
                fix="" if held else f"{wanted[0]}: {_GRANT}",
            )
        )
    return checks, roles


def access_checks(
    client: ServiceNowClient, tables: dict[str, tuple[str, ...]], roles: Sequence[str] | None
) -> list[Check]:
    checks = []
    for table, writers in tables.items():
        checks.append(_read(client, table))
        if writers:
            checks.append(_write(table, writers, roles))
    return checks


def _read(client: ServiceNowClient, table: str) -> Check:
    name = f"read {table}"
    try:
        rows = client.query(table, fields=("sys_id",), limit=1)
    except ServiceNowRejected as exc:
        return Check(
            group="access",
            name=name,
            status="fail",
            detail=f"{exc.status_code}: {exc.sn_message or exc.message}",
            fix="grant the integration user read access (admin, for system tables)",
        )
    except TwowayError as exc:
        return Check(group="access", name=name, status="unknown", detail=exc.message)
    if rows:
        return Check(group="access", name=name, status="pass", detail="a GET of one row answered")
    return Check(
        group="access",
        name=name,
        status="unknown",
        detail="no row visible: the table is empty, or an ACL filters the rows (KB3047115)",
    )


def _write(table: str, writers: tuple[str, ...], roles: Sequence[str] | None) -> Check:
    name = f"write {table}"
    needs = " or ".join(writers)
    if roles is None:
        return Check(
            group="access",
            name=name,
            status="unknown",
            detail=f"needs {needs}; the user's roles could not be read (never tried by writing)",
        )
    allowed = any(role in roles for role in writers)
    return Check(
        group="access",
        name=name,
        status="pass" if allowed else "fail",
        detail=f"needs {needs} (judged from the roles, not by writing)",
        fix="" if allowed else f"{writers[0]}: {_GRANT}",
    )
