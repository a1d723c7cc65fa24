"""Notifications, end to end: a job waiting for the manual CA reaches a real HTTP receiver
(which verifies the signature, and was down at first) and a real SMTP server (aiosmtpd);
the revocation that the manual CA must do goes out as a signed webhook too; a channel
that never answers is dead-lettered."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller

from messages import JobState, KeyType
from ops.dev.stack import Stack, StackOptions
from tests.e2e.conftest import wait_all
from tests.factories import OpensslCa
from workers.callback_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_signature
from workers.config import PipelineConfig, load_config
from workers.levers.notifier import Notifier
from workers.levers.resume import resume_with_certificate
from workers.levers.revoker import Revoker
from workers.levers.rollback import rollback

HOOK_SECRET = "hook-secret-for-tests-0123456789"
SECRET_ENV = "TWOWAY_TEST_HOOK_SECRET"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Receiver:
    """A webhook receiver: verifies each signature, keeps each event id once."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: dict[str, dict[str, Any]] = {}
        self.posts = 0
        self.refused: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                payload = json.loads(body)
                if self.path == "/hook":
                    try:
                        check_signature(
                            HOOK_SECRET.encode(),
                            self.headers[TIMESTAMP_HEADER],
                            self.headers[SIGNATURE_HEADER],
                            body,
                            job_id=payload["job_id"],
                        )
                    except Exception as exc:
                        receiver.refused.append(str(exc))
                        self.send_response(401)
                        self.end_headers()
                        return
                event_id = self.headers["X-Twoway-Event-Id"]
                receiver.received.setdefault(f"{self.path} {event_id}", payload)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Mailbox:
    """aiosmtpd's handler: every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def hook_port() -> int:
    return free_port()


@pytest.fixture
def stack(
    smtp: tuple[Mailbox, int], hook_port: int, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    monkeypatch.setenv(SECRET_ENV, HOOK_SECRET)
    base = f"http://127.0.0.1:{hook_port}"
    notify = {
        "webhooks": [
            {"name": "ops", "url": f"{base}/hook", "secret_env": SECRET_ENV},
            {"name": "chat", "url": f"{base}/slack", "format": "slack"},
            {
                "name": "nowhere",
                "url": f"http://127.0.0.1:{free_port()}/never",
                "events": ["waiting_for_ca"],
                "connect_timeout_s": 0.5,
            },
        ],
        "email": [
            {
                "name": "oncall",
                "host": "127.0.0.1",
                "port": smtp[1],
                "security": "none",
                "sender": "twoway@example.test",
                "to": ["pki-team@example.test"],
            }
        ],
        "min_backoff_s": 0.2,
        "max_backoff_s": 0.5,
        "max_attempts": 3,
        "console_url": "https://twoway.example.test/ui",
    }
    raw = load_config().model_dump()
    raw["notify"] = notify
    config = PipelineConfig.model_validate(raw)
    with Stack(StackOptions(broker="stub", config=config)) as running:
        yield running


def notifier_rounds(notifier: Notifier, rounds: int, pause: float = 0.6) -> None:
    for _ in range(rounds):
        notifier.run_once()
        time.sleep(pause)


def test_webhooks_and_mail_reach_people_once(
    stack: Stack, smtp: tuple[Mailbox, int], hook_port: int, tmp_path: Path
) -> None:
    mailbox, _ = smtp
    job, _ = stack.app.submit(stack.example_job(KeyType.EC256, ca={"profile": "manual"}))
    assert wait_all(stack, [job.id])[job.id] is JobState.WAITING_FOR_CA
    notifier = Notifier(stack.app.store, stack.app.config, stack.environ)

    notifier.run_once()  # the receiver is not listening yet: the webhooks wait, mail goes
    rows = {r.key["channel"]: r for r in stack.app.store.notifications.all()}
    print({c: (r.values["state"], r.attempts, r.values["last_error"]) for c, r in rows.items()})
    assert rows["ops"].values["state"] == "pending" and rows["ops"].attempts == 1
    assert rows["oncall"].values["state"] == "sent"
    [(recipients, mail)] = mailbox.messages
    assert recipients == ["pki-team@example.test"]
    print("mail:", mail["Subject"], "|", mail["X-Twoway-Event-Id"])
    assert mail["Subject"].startswith("[twoway] Waiting for the CA to sign")
    assert "twoway resume" in mail.get_payload() and "Deadline:" in mail.get_payload()

    receiver = Receiver(hook_port).start()
    try:
        notifier_rounds(notifier, 4)
        key = f"/hook {job.id}:"
        [(path_id, payload)] = [(k, v) for k, v in receiver.received.items() if k.startswith(key)]
        print("webhook:", path_id, payload["kind"], payload["deadline"], payload["link"])
        assert payload["kind"] == "waiting_for_ca" and payload["deadline"] is not None
        assert receiver.refused == []  # every signature verified
        slack = [v for k, v in receiver.received.items() if k.startswith("/slack")]
        assert slack and "Waiting for the CA" in slack[0]["text"]
        posts = receiver.posts
        notifier_rounds(notifier, 2)
        assert receiver.posts == posts  # nothing is sent twice
        assert len(mailbox.messages) == 1

        dead = {r.key["channel"]: r for r in notifier.dead_letters()}
        assert set(dead) == {"nowhere"} and dead["nowhere"].attempts == 3
        assert "notification_dead" in [e.kind for e in stack.app.store.history(job.id)]
        # An operator finds what was given up: GET /v1/notifications?state=dead
        listed = requests.get(
            f"{stack.gateway.url}/v1/notifications",
            params={"state": "dead"},
            headers={"Authorization": f"Bearer {stack.read_token}"},
            timeout=10,
        ).json()
        print("dead notifications:", listed)
        [row] = listed["notifications"]
        assert row["channel"] == "nowhere" and row["attempts"] == 3 and row["last_error"]
        assert listed["counts"]["dead"] == 1 and listed["counts"]["sent"] >= 3

        # The manual CA signs; the job is later rolled back: revoking is up to a person.
        ca = OpensslCa(tmp_path / "ca")
        stack.third_party.trust(ca.root_pem)
        csr = stack.app.store.artifacts.get(job.id, "csr")
        assert csr is not None
        resume_with_certificate(
            stack.app, job.id, ca.sign(csr), ca.chain_pem, source="operator", actor="test"
        )
        assert wait_all(stack, [job.id])[job.id] is JobState.SUCCEEDED
        rollback(stack.app, job.id, actor="test", reason="the CA contract ended")
        Revoker(stack.app.deps).run_once()
        notifier_rounds(notifier, 2)
        asked = [v for v in receiver.received.values() if v.get("kind") == "revocation_asked"]
        print("revocation asked:", asked[0]["detail"]["what"])
        assert "revoke serial" in asked[0]["detail"]["what"]
    finally:
        receiver.stop()
    assert HOOK_SECRET not in json.dumps([e.detail for e in stack.app.store.history(job.id)])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_mail_logs_in_and_a_refused_login_is_not_retried() -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from workers.config.lifecycle import EmailChannel
    from workers.errors import NotificationRefused
    from workers.lifecycle.mail import MailSender
    from workers.lifecycle.payloads import Notice

    logins: list[str] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        login, password = (
            v.decode() if isinstance(v, bytes) else str(v) for v in (data.login, data.password)
        )
        logins.append(login)
        # handled=False: aiosmtpd answers a refusal with 535 itself
        return AuthResult(success=password == "right-password", handled=False)

    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        channel = EmailChannel(
            name="m",
            host="127.0.0.1",
            port=port,
            security="none",
            username_env="U",
            password_env="P",
            sender="twoway@example.test",
            to=["pki@example.test"],
            timeout_s=5,
        )
        notice = Notice(
            id="d" * 32 + ":3", kind="job_failed", event="stage_failed", job_id="d" * 32,
            instance="prod", target="Payments API", state="failed", stage="enable",
            at="2026-12-01T00:00:00+00:00", title="Job failed", action="replay it",
            deadline=None, link=None, detail={},
        )  # fmt: skip
        MailSender(channel, environ={"U": "twoway", "P": "right-password"}).send(notice)
        assert len(mailbox.messages) == 1 and logins == ["twoway"]
        wrong = MailSender(channel, environ={"U": "twoway", "P": "wrong-password"})
        with pytest.raises(NotificationRefused, match="refused the login") as refused:
            wrong.send(notice)
        assert "wrong-password" not in str(refused.value)
        assert len(mailbox.messages) == 1
    finally:
        controller.stop()
