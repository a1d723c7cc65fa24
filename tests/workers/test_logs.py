"""Redaction runs on every log line: fields, messages, exceptions, stdlib records."""

from __future__ import annotations

import io
import json
import logging
import threading

import structlog

from workers import logs
from workers.logs import MASK, configure_logging, quiet_pika, redact_text, register_secret

KEY = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n"
    "-----END PRIVATE KEY-----"
)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_secret_fields_messages_and_exceptions_are_masked() -> None:
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    log = structlog.get_logger("t")
    log.info("login", password="hunter2-secret", authorization="Basic YWRtaW46cHc=")
    log.info(f"uploading {KEY}")
    try:
        raise ValueError("bad Bearer abcdef.ghijkl.mnop token")
    except ValueError:
        log.exception("failed")
    logging.getLogger("pika").warning("url amqp://guest:guest-secret@h:5672/ failed")
    text = out.getvalue()
    for secret in (
        "hunter2-secret",
        "YWRtaW46cHc=",
        "MIGHAgEAMBMG",
        "abcdef.ghijkl",
        "guest-secret",
    ):
        assert secret not in text
    assert lines(out)[0]["password"] == MASK


def test_registered_values_are_masked_anywhere() -> None:
    register_secret("Zq81kspLw0aB")
    assert redact_text("pw is Zq81kspLw0aB.") == f"pw is {MASK}."


def test_registered_values_sharing_a_beginning_are_each_masked_whole() -> None:
    register_secret("Kw3pXv9tQ2")
    register_secret("Kw3pXv9tQ2mm7Lr")  # the first is a prefix of this one
    register_secret("Kw3pXvAAAAAA")  # same first six characters
    text = "a=Kw3pXv9tQ2mm7Lr b=Kw3pXv9tQ2; c=xKw3pXvAAAAAAx d=Kw3pXvBBBB"
    assert redact_text(text) == f"a={MASK} b={MASK}; c=x{MASK}x d=Kw3pXvBBBB"


def test_registered_values_are_bounded_oldest_forgotten() -> None:
    first, *_, last = [f"bounded-{i:06d}-secret" for i in range(logs._MAX_KNOWN + 1)]
    for i in range(logs._MAX_KNOWN + 1):
        register_secret(f"bounded-{i:06d}-secret")
    assert len(logs._known) == logs._MAX_KNOWN
    assert sum(len(bucket) for bucket in logs._by_prefix.values()) == logs._MAX_KNOWN
    assert redact_text(f"{first} {last}") == f"{first} {MASK}"


def test_ordinary_text_is_left_alone() -> None:
    text = "stage_completed upload-keystore sys_id=0123456789abcdef0123456789abcdef"
    assert redact_text(text) == text


def test_the_acting_token_s_name_is_shown_but_a_token_is_not() -> None:
    actor = "replay_requested actor=token:ci-bot (0123abcd) by token:twoway up (99ff)"
    assert redact_text(actor) == actor
    leaked = "token:twoway_0123abcd_s3cr3tvalue TOKEN:hunter22 token: hunter22"
    assert "s3cr3t" not in redact_text(leaked) and "hunter22" not in redact_text(leaked)


def test_quiet_pika_drops_pika_lines_of_this_thread_only() -> None:
    out = io.StringIO()
    configure_logging(json=True, stream=out)
    pika_log = logging.getLogger("pika.adapters.blocking_connection")
    with quiet_pika():
        pika_log.error("connection lost in this thread")
        logging.getLogger("dramatiq").warning("not pika")
        other = threading.Thread(target=pika_log.error, args=("lost in another thread",))
        other.start()
        other.join()
    pika_log.error("lost after")
    assert [line["event"] for line in lines(out)] == [
        "not pika",
        "lost in another thread",
        "lost after",
    ]
