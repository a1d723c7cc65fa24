"""RabbitMQ definitions for a deployment: ``definitions.json`` plus the deployment's login.

``definitions.json`` (beside this module) holds what does not depend on the deployment:
the ``twoway`` vhost, the ``twoway.events`` topic exchange, the ``twoway.jobs`` queue and
its policy. ``twoway broker-definitions`` adds the user, with a salted SHA-256 hash of
the password from the environment (RabbitMQ's ``rabbit_password_hashing_sha256``), and
its permissions on the vhost; RabbitMQ imports the result at boot (``load_definitions``
in ``rabbitmq.conf``). The password itself is never written anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["definitions", "password_hash", "template", "write_definitions"]

HASHING = "rabbit_password_hashing_sha256"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's stored form: base64(salt + SHA-256(salt + password)), 4-byte salt."""
    salt = secrets.token_bytes(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def template() -> dict[str, Any]:
    text = resources.files("ops.rabbitmq").joinpath("definitions.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def definitions(
    password: str, *, user: str = "twoway", vhost: str = "twoway", tags: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The template with ``user`` added (every permission on ``vhost``)."""
    out = template()
    out["users"] = [
        {
            "name": user,
            "password_hash": password_hash(password),
            "hashing_algorithm": HASHING,
            "tags": list(tags),
            "limits": {},
        }
    ]
    out["permissions"] = [
        {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
    ]
    return out


def write_definitions(path: Path, password: str, *, user: str = "twoway") -> None:
    """Write the definitions (world-readable: RabbitMQ runs as another user; the file
    holds a salted hash, never the password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(definitions(password, user=user, tags=("management",)), indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data + "\n")
