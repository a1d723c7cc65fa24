"""Notifications by e-mail over SMTP (STARTTLS, TLS or plain), one mail per notice.

The ``Message-ID`` is derived from the event id, so a mail sent twice (a worker died
between sending and recording) is recognisable as one by the mail system and the reader.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate

from workers.config.lifecycle import EmailChannel, read_secret
from workers.errors import NotificationRefused, NotificationUndelivered
from workers.lifecycle.payloads import Notice

__all__ = ["MailSender", "message_for"]


def message_for(channel: EmailChannel, notice: Notice) -> EmailMessage:
    message = EmailMessage()
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message["Subject"] = f"[twoway] {notice.title}: {notice.target} on {notice.instance}"
    message["Date"] = formatdate(usegmt=True)
    domain = channel.sender.rsplit("@", 1)[1]
    tag = hashlib.sha256(notice.id.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<twoway.{tag}@{domain}>"
    message["X-Twoway-Event-Id"] = notice.id
    message.set_content(notice.text() + "\n")
    return message


class MailSender:
    def __init__(self, channel: EmailChannel, environ: Mapping[str, str] | None = None) -> None:
        self.channel = channel
        what = f"mail channel {channel.name!r}"
        self._login = None
        if channel.username_env and channel.password_env:
            self._login = (
                read_secret(channel.username_env, what, environ),
                read_secret(channel.password_env, what, environ),
            )

    def send(self, notice: Notice) -> None:
        channel = self.channel
        where = f"mail channel {channel.name!r} ({channel.host}:{channel.port})"
        try:
            with self._connect() as smtp:
                if self._login is not None:
                    smtp.login(*self._login)
                smtp.send_message(message_for(channel, notice))
        except smtplib.SMTPAuthenticationError:
            raise NotificationRefused(
                f"{where} refused the login", hint="check the SMTP username and password"
            ) from None
        except smtplib.SMTPResponseException as exc:
            kind = NotificationRefused if exc.smtp_code >= 500 else NotificationUndelivered
            raise kind(f"{where} answered {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise NotificationRefused(f"{where} refused the recipients") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationUndelivered(
                f"{where} cannot be reached ({type(exc).__name__})",
                hint="it is tried again with backoff",
            ) from None

    def _connect(self) -> smtplib.SMTP:
        channel = self.channel
        if channel.security == "tls":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(
                channel.host, channel.port, timeout=channel.timeout_s, context=context
            )
        smtp = smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s)
        if channel.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp
