"""Bearer tokens for the gateway's clients, kept as SHA-256 digests, never as themselves.

A token reads ``twoway_<id>_<secret>``: the id finds the row, the secret (256 random
bits) is what proves possession. Only the digest of the whole token is stored, and it is
compared in constant time. The token itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, insert, select, update

from workers.errors import RequestInvalid
from workers.store import schema as t
from workers.store.writer import Writer

__all__ = ["ROLES", "Role", "TokenRecord", "Tokens"]

Role = Literal["read", "operator"]
ROLES: tuple[Role, ...] = ("read", "operator")
_RANK = {"read": 1, "operator": 2}  # operator may do everything read may
_PREFIX = "twoway"
_SHAPE = re.compile(r"^twoway_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[\w .@:/+-]{1,100}$")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenRecord:
    """What is known of a token besides its secret."""

    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    def allows(self, role: Role) -> bool:
        return self.revoked_at is None and _RANK[self.role] >= _RANK[role]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise RequestInvalid(f"role: {role!r} is not a role", hint=f"use one of {list(ROLES)}")
    return role


class Tokens:
    def __init__(self, reader: Engine, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer

    def create(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new token; returns its record and the token itself (shown this once)."""
        if not _NAME.match(name):
            raise RequestInvalid(
                f"name: {name[:40]!r} is not a token name",
                hint="1-100 letters, digits, spaces or . @ : / + - _",
            )
        record = TokenRecord(secrets.token_hex(6), name, check_role(role), _now())
        token = f"{_PREFIX}_{record.id}_{secrets.token_urlsafe(32)}"
        with self._writer.begin() as conn:
            conn.execute(
                insert(t.tokens).values(
                    id=record.id,
                    name=name,
                    role=record.role,
                    sha256=_digest(token),
                    created_at=record.created_at,
                )
            )
        return record, token

    def verify(self, token: str) -> TokenRecord | None:
        """The record of a valid, unrevoked token; None for anything else."""
        shape = _SHAPE.match(token)
        if shape is None:
            return None
        with self._reader.connect() as conn:
            row = conn.execute(select(t.tokens).where(t.tokens.c.id == shape.group(1))).first()
        if row is None or not hmac.compare_digest(row.sha256, _digest(token)):
            return None
        record = self._record(row)
        return record if record.revoked_at is None else None

    def by_id(self, token_id: str) -> TokenRecord | None:
        """The record of the token with this id (revoked or not), or None."""
        with self._reader.connect() as conn:
            row = conn.execute(select(t.tokens).where(t.tokens.c.id == token_id)).first()
        return None if row is None else self._record(row)

    def all(self, *, include_revoked: bool = False) -> list[TokenRecord]:
        query = select(t.tokens).order_by(t.tokens.c.created_at, t.tokens.c.id)
        if not include_revoked:
            query = query.where(t.tokens.c.revoked_at.is_(None))
        with self._reader.connect() as conn:
            return [self._record(row) for row in conn.execute(query).all()]

    def revoke(self, id_or_name: str) -> list[TokenRecord]:
        """Revoke the token with this id, or every active token with this name."""
        match = (t.tokens.c.id == id_or_name) | (t.tokens.c.name == id_or_name)
        active = t.tokens.c.revoked_at.is_(None)
        with self._writer.begin() as conn:
            ids = [row.id for row in conn.execute(select(t.tokens.c.id).where(match, active))]
            if ids:
                conn.execute(
                    update(t.tokens).where(t.tokens.c.id.in_(ids)).values(revoked_at=_now())
                )
            rows = conn.execute(select(t.tokens).where(t.tokens.c.id.in_(ids))).all()
        return [self._record(row) for row in rows]

    @staticmethod
    def _record(row: Any) -> TokenRecord:
        created = _aware(row.created_at)
        assert created is not None
        return TokenRecord(row.id, row.name, check_role(row.role), created, _aware(row.revoked_at))
