"""Doctor's and plan's checks of the platform's upload gates for a keystore attachment:
``glide.security.file.mime_type.validation`` and ``glide.attachment.role``
(servicenow-api.md 10; docs/servicenow.md). One rule each, in ``InstanceFacts``."""

from __future__ import annotations

from workers.errors import TwowayError
from workers.readiness.doctor_model import Check
from workers.servicenow import Instance
from workers.servicenow.facts import ATTACHMENT_ROLE, MIME_VALIDATION, InstanceFacts
from workers.servicenow.survey import user_roles

__all__ = ["ROLE_HINT", "attach_role_problem", "mime_problem", "role_problem", "upload_checks"]

ROLE_HINT = f"give the integration user a role listed in {ATTACHMENT_ROLE}, or admin"


def mime_problem(facts: InstanceFacts, file_name: str) -> str | None:
    """Why MIME validation would refuse ``file_name``, naming the property; else None."""
    if not facts.mime_check_refuses(file_name):
        return None
    return (
        f"{MIME_VALIDATION} is true and glide.attachment.extensions lists"
        f" .{file_name.rpartition('.')[2].lower()}: the instance refuses {file_name!r}"
        " ('File type not permitted or mime type does not match the file content')"
    )


def role_problem(facts: InstanceFacts, roles: tuple[str, ...] | None) -> str | None:
    """Why ``glide.attachment.role`` would refuse the integration user; else None."""
    if facts.may_attach(roles) is False:
        listed = ", ".join(facts.attachment_roles)
        return f"{ATTACHMENT_ROLE} lists {listed}: the integration user has none of them"
    return None


def attach_role_problem(instance: Instance, user: str) -> str | None:
    """``role_problem`` for ``user``, whose roles are read only when a role list is set;
    roles that cannot be read are no refusal (doctor says "unknown")."""
    if not instance.facts.attachment_roles:
        return None
    try:
        roles = user_roles(instance.client, user)
    except TwowayError:
        roles = None
    return role_problem(instance.facts, roles)


def upload_checks(
    facts: InstanceFacts | None, roles: tuple[str, ...] | None, file_names: tuple[str, ...]
) -> list[Check]:
    """One check per gate: pass, fail (with the property to change) or unknown."""
    if facts is None:
        return []
    mime = [p for p in (mime_problem(facts, f) for f in file_names) if p]
    checks = [
        Check(
            group="properties",
            name=f"{MIME_VALIDATION} lets a keystore through",
            status="fail" if mime else "pass",
            detail="; ".join(mime) if mime else _mime_detail(facts),
            fix=f"set {MIME_VALIDATION} to false, or take jks/p12 off glide.attachment.extensions"
            if mime
            else "",
        )
    ]
    allowed = facts.may_attach(roles)
    listed = ", ".join(facts.attachment_roles) or "none listed: every role may attach"
    checks.append(
        Check(
            group="properties",
            name=f"{ATTACHMENT_ROLE} lets the integration user attach",
            status={True: "pass", False: "fail", None: "unknown"}[allowed],
            detail=f"roles: {listed}",
            fix="" if allowed else ROLE_HINT,
        )
    )
    return checks


def _mime_detail(facts: InstanceFacts) -> str:
    if not facts.mime_type_validation:
        return "false"
    return "true, but glide.attachment.extensions lists no keystore extension"
