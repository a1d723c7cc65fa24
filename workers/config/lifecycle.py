"""``[revocation]`` and ``[notify]`` of pipeline.toml: frozen, strict, secrets by name only.

A webhook's HMAC secret, a webhook URL that is itself a secret (Slack's and Teams'
incoming webhooks are), and the SMTP login are read from the environment variables named
here, never from the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workers.errors import ConfigError

__all__ = [
    "NOTIFY_KINDS",
    "EmailChannel",
    "NotifySettings",
    "RevocationSettings",
    "RevokeTrigger",
    "WebhookChannel",
    "read_secret",
]

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
RevokeTrigger = Literal["retired", "rolled_back", "cancelled"]
# What a person must act on (see workers.lifecycle.triggers for how each is found).
NotifyKind = Literal[
    "waiting_for_ca",
    "waiting_for_third_party",
    "certificate_expiring",
    "job_failed",
    "renewal_failed",
    "partner_certificate_changed",
    "partner_certificate_expiring",
    "revocation_failed",
    "revocation_asked",
    "certificate_revoked_by_ca",
]
NOTIFY_KINDS: tuple[NotifyKind, ...] = NotifyKind.__args__  # type: ignore[attr-defined]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RevocationSettings(_Frozen):
    """How the revoker works its outbox: every ``every_s``, a CA that is down retried with
    doubling backoff from ``min_backoff_s`` to ``max_backoff_s``, and given up (event
    ``revocation_failed``, a person is told) after ``max_attempts``."""

    every_s: Annotated[float, Field(ge=0.1, le=3600)] = 30
    min_backoff_s: Annotated[float, Field(ge=0.1, le=86400)] = 30
    max_backoff_s: Annotated[float, Field(ge=0.1, le=7 * 86400)] = 6 * 3600
    max_attempts: Annotated[int, Field(ge=1, le=1000)] = 40
    # How often the scheduler asks a CA (its CRL or OCSP) whether it revoked one of our
    # current certificates, per certificate (0: every scheduler round).
    check_every_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 3600


def read_secret(name: str, what: str, environ: Mapping[str, str] | None = None) -> str:
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise ConfigError(
            f"environment variable {name} is not set",
            hint=f"{what} reads its secret from it: set it in the workers' environment",
        )
    return value


class _Channel(_Frozen):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
    # Only these kinds go to this channel (None: all of [notify] events).
    events: list[NotifyKind] | None = None


class WebhookChannel(_Channel):
    """A POST of each notification: twoway's JSON, or a Slack or Teams message."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None
    url_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    format: Literal["json", "slack", "teams"] = "json"
    # HMAC-SHA256 key that signs each body (X-Twoway-Timestamp / X-Twoway-Signature).
    secret_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0

    @model_validator(mode="after")
    def _one_url(self) -> WebhookChannel:
        if bool(self.url) == bool(self.url_env):
            raise ValueError("a webhook needs exactly one of url and url_env")
        return self


class EmailChannel(_Channel):
    """A mail per notification through an SMTP server."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    password_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    sender: Annotated[str, Field(pattern=r"^[^\s@]+@[^\s@]+$")]
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^\s@]+@[^\s@]+$")]], Field(min_length=1)]
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30.0

    @model_validator(mode="after")
    def _login_both_or_neither(self) -> EmailChannel:
        if bool(self.username_env) != bool(self.password_env):
            raise ValueError("an SMTP login needs both username_env and password_env")
        return self


class NotifySettings(_Frozen):
    """Who hears of what: each event of ``events`` goes to every channel that takes it,
    retried with doubling backoff and dead-lettered after ``max_attempts``."""

    events: list[NotifyKind] = list(NOTIFY_KINDS)
    webhooks: list[WebhookChannel] = []
    email: list[EmailChannel] = []
    every_s: Annotated[float, Field(ge=0.1, le=3600)] = 10
    min_backoff_s: Annotated[float, Field(ge=0.1, le=86400)] = 10
    max_backoff_s: Annotated[float, Field(ge=0.1, le=86400)] = 3600
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 10
    # The third party's registered server certificate is announced as expiring this many
    # days before its end (by the renewal scheduler).
    partner_expiring_days: Annotated[float, Field(ge=0, le=3650)] = 30
    # Where a person acts on a job (the console's job page is {console_url}/jobs/{id}).
    console_url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")] | None = None

    @model_validator(mode="after")
    def _names_once(self) -> NotifySettings:
        names = [c.name for c in [*self.webhooks, *self.email]]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"notification channel names must be unique: {doubled}")
        return self

    def channels(self) -> list[WebhookChannel | EmailChannel]:
        return [*self.webhooks, *self.email]
