"""Outbound webhooks: a notice POSTed as JSON, signed like the CA callbacks.

The body is signed with :func:`workers.callback_signing.signed_headers` under the
channel's secret (``timestamp + "." + job id + "." + body``, HMAC-SHA256), so a receiver
checks it with :func:`workers.callback_signing.check_signature` and the ``job_id`` of the
body. ``X-Twoway-Event-Id`` is the same for every attempt of one event: a receiver that
sees it twice has the notice already.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import requests

from workers.callback_signing import signed_headers
from workers.config.lifecycle import WebhookChannel, read_secret
from workers.errors import NotificationRefused, NotificationUndelivered
from workers.lifecycle.payloads import Notice, render

__all__ = ["EVENT_ID_HEADER", "WebhookSender"]

EVENT_ID_HEADER = "X-Twoway-Event-Id"


class WebhookSender:
    """One session per channel, a (connect, read) timeout on every POST."""

    def __init__(self, channel: WebhookChannel, environ: Mapping[str, str] | None = None) -> None:
        self.channel = channel
        what = f"webhook {channel.name!r}"
        self._url = channel.url or read_secret(str(channel.url_env), what, environ)
        self._secret = (
            read_secret(channel.secret_env, what, environ).encode() if channel.secret_env else None
        )
        self._session = requests.Session()
        self._timeout = (channel.connect_timeout_s, channel.read_timeout_s)

    def send(self, notice: Notice) -> None:
        body = json.dumps(render(notice, self.channel.format), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: notice.id}
        headers["X-Twoway-Event"] = notice.kind
        if self._secret is not None:
            headers.update(signed_headers(self._secret, body, job_id=notice.job_id))
        where = f"webhook {self.channel.name!r}"  # never the URL: it may hold a token
        try:
            response = self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise NotificationUndelivered(
                f"{where} cannot be reached ({type(exc).__name__})",
                hint="it is tried again with backoff",
            ) from None
        status = response.status_code
        if status < 300:
            return
        if status >= 500 or status in (408, 425, 429):
            raise NotificationUndelivered(f"{where} answered HTTP {status}")
        raise NotificationRefused(
            f"{where} refused the notice with HTTP {status}",
            hint="check the webhook's URL, format and secret",
        )
