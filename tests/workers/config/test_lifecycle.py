"""[revocation], [notify] and revoke_on in pipeline.toml: strict, and secrets by name only;
what a notice says in each webhook format; a mail server that is down is transient."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from messages import JobEvent, JobRequest, JobState
from tests.factories import good
from workers.config import load_config
from workers.config.lifecycle import EmailChannel, WebhookChannel
from workers.errors import ConfigError, NotificationUndelivered
from workers.levers.waiting import wait_deadline
from workers.lifecycle.mail import MailSender
from workers.lifecycle.payloads import notice_for, render
from workers.lifecycle.webhook import WebhookSender
from workers.store import JobRecord
from workers.store.outbox import OutboxEvent

BASE = Path(__file__).resolve().parents[3] / "pipeline.toml"


def config_with(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(BASE.read_text() + "\n" + extra)
    return path


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ("[revocation]\nevery_second = 3\n", "revocation.every_second: Extra inputs"),
        ("[notify]\nevents = ['job_exploded']\n", "notify.events.0"),
        (
            "[[notify.webhooks]]\nname = 'a'\nurl = 'https://h/x'\nurl_env = 'X'\n",
            "exactly one of url and url_env",
        ),
        (
            "[[notify.email]]\nname = 'm'\nhost = 'smtp'\nsender = 'a@b'\nto = ['c@d']\n"
            "username_env = 'U'\n",
            "both username_env and password_env",
        ),
        (
            "[[notify.webhooks]]\nname = 'a'\nurl = 'https://h/x'\nsecret = 'inline'\n",
            "notify.webhooks.0.secret: Extra inputs",
        ),
        (
            "[[notify.webhooks]]\nname = 'a'\nurl = 'https://h/x'\n"
            "[[notify.email]]\nname = 'a'\nhost = 's'\nsender = 'a@b'\nto = ['c@d']\n",
            "names must be unique",
        ),
    ],
)
def test_bad_lifecycle_settings_are_refused_by_key(
    tmp_path: Path, extra: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=complaint):
        load_config(config_with(tmp_path, extra))


def test_revoke_on_takes_only_the_three_triggers(tmp_path: Path) -> None:
    text = BASE.read_text().replace(
        '[ca.manual]\nadapter = "manual"',
        '[ca.manual]\nadapter = "manual"\nrevoke_on = ["expired"]',
    )
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"manual\.revoke_on\.0: Input should be .retired."):
        load_config(path)
    assert load_config().ca["local"].revoke_on == ["retired", "rolled_back", "cancelled"]


def test_a_missing_secret_names_its_variable_and_never_a_value() -> None:
    hook = WebhookChannel(name="chat", url_env="TWOWAY_SLACK_URL", format="slack")
    with pytest.raises(ConfigError, match="TWOWAY_SLACK_URL is not set"):
        WebhookSender(hook, environ={})
    sender = WebhookSender(hook, environ={"TWOWAY_SLACK_URL": "http://127.0.0.1:9/T0/B0/tok"})
    with pytest.raises(NotificationUndelivered) as caught:
        sender.send(notice())
    assert "tok" not in str(caught.value) and "127.0.0.1" not in str(caught.value)


def notice(kind: str = "waiting_for_ca") -> Any:
    request = JobRequest.model_validate({**good(), "ca": {"profile": "manual"}})
    event = JobEvent(
        job_id="c" * 32,
        seq=5,
        at=datetime(2026, 12, 1, tzinfo=UTC),
        kind=kind,
        state=JobState.WAITING_FOR_CA,
        stage=None,
        detail={"request_id": "manual-x"},
    )
    job = JobRecord.__new__(JobRecord)
    object.__setattr__(job, "request", request)
    config = load_config()
    deadline = wait_deadline(config, job, event.state, event.at)
    return notice_for(OutboxEvent(41, event, JobState.RUNNING), kind, job, deadline=deadline)


def test_each_format_says_what_to_do_and_by_when() -> None:
    told = notice()
    assert told.id == "c" * 32 + ":5" and told.deadline == "2026-12-15T00:00:00+00:00"
    plain = render(told, "json")
    assert plain["schema_version"] == 1 and "twoway resume" in plain["action"]
    slack = render(told, "slack")
    assert slack["text"].startswith("Waiting for the CA to sign") and slack["blocks"]
    teams = render(told, "teams")
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    facts = {f["title"]: f["value"] for f in card["content"]["body"][2]["facts"]}
    assert facts["Deadline"] == told.deadline
    json.dumps([plain, slack, teams])  # all of it is JSON


def test_a_mail_server_that_is_down_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = EmailChannel(
        name="m", host="127.0.0.1", port=port, security="none", sender="a@b.test", to=["c@d.test"]
    )
    with pytest.raises(NotificationUndelivered, match="cannot be reached"):
        MailSender(channel, environ={}).send(notice())


def test_the_commented_examples_in_pipeline_toml_load(tmp_path: Path) -> None:
    text = BASE.read_text()
    block = text[text.index("# Revocation (docs/lifecycle.md)") :]
    lines = [
        line[2:]
        for line in block.splitlines()
        if line.startswith("# [") or (line.startswith("# ") and " = " in line.split("#")[1][:40])
    ]
    example = "\n".join(line for line in lines if not line.startswith("A local"))
    config = load_config(config_with(tmp_path, example))
    assert [c.name for c in config.notify.channels()] == ["pki-team", "slack", "oncall"]
    assert config.revocation.max_attempts == 40
