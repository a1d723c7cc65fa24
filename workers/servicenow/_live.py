"""What a message uses now: the profiles serving its mutual auth, and whether they can.

Admission reads this to refuse a silent take-over (a message already on mutual auth with
another profile), ``plan`` to show it, and rollback to check that the values it would put
back still name records that exist and are active (never a deleted or inactive one).
"""

from __future__ import annotations

from workers.servicenow._common import CERTIFICATE, PROFILE, text
from workers.servicenow._targets import mutual_columns, read_mutual_auth
from workers.servicenow.client import ServiceNowClient
from workers.servicenow.facts import InstanceFacts
from workers.servicenow.models import ProfileInUse, TargetRef

__all__ = ["profile_in_use", "profiles_in_use"]


def profiles_in_use(
    client: ServiceNowClient, facts: InstanceFacts, target: TargetRef
) -> list[ProfileInUse]:
    """Each profile that the message or one of its methods uses with mutual auth on."""
    users: dict[str, list[str]] = {}
    for sys_id, row in read_mutual_auth(client, facts, target).items():
        mutual, profile = mutual_columns(facts, target, sys_id)
        if row.get(mutual) == "true" and row.get(profile):
            users.setdefault(row[profile], []).append(sys_id)
    return [profile_in_use(client, sys_id, tuple(rows)) for sys_id, rows in sorted(users.items())]


def profile_in_use(
    client: ServiceNowClient, profile_sys_id: str, used_by: tuple[str, ...] = ()
) -> ProfileInUse:
    """The profile, its keystore, and why it cannot serve mutual auth (if it cannot)."""
    row = client.get(PROFILE, profile_sys_id, fields=("sys_id", "protocol", "keystore"))
    if row is None:
        return ProfileInUse(
            sys_id=profile_sys_id,
            protocol="",
            keystore_sys_id="",
            keystore_name="",
            used_by=used_by,
            problem=f"protocol profile {profile_sys_id} does not exist",
        )
    protocol, keystore = text(row.get("protocol")), text(row.get("keystore"))
    found = (
        client.get(CERTIFICATE, keystore, fields=("sys_id", "name", "active")) if keystore else None
    )
    problem = ""
    if not keystore:
        problem = f"protocol profile {protocol!r} names no keystore"
    elif found is None:
        problem = f"the keystore {keystore} of protocol profile {protocol!r} does not exist"
    elif text(found.get("active")) != "true":
        problem = (
            f"the keystore {text(found.get('name'))!r} of protocol profile {protocol!r} is inactive"
        )
    return ProfileInUse(
        sys_id=profile_sys_id,
        protocol=protocol,
        keystore_sys_id=keystore,
        keystore_name=text(found.get("name")) if found else "",
        used_by=used_by,
        problem=problem,
    )
