"""A reason an operator gives is recorded and shown in terminals and pages: every lever
(rollback, replay, cancel, "installed") refuses the same hostile text with the same
400, before it touches the job."""

from __future__ import annotations

import httpx
import pytest

from tests.security.conftest import Gateway
from workers.errors import RequestInvalid
from workers.levers.reasons import MAX_REASON, check_reason

HOSTILE = {
    "ESC sequence": "done \x1b[2J\x1b[31mALL CLEAR",
    "NUL": "ok\x00hidden",
    "bidi override U+202E": "approved \u202edevorppa ton",
    "newline": "one\ntwo",
    "bell": "ring\x07",
}
LEVERS = {
    "rollback": ("rollback", {}),
    "replay": ("replay", {"stage": "enable"}),
    "cancel": ("cancel", {}),
    "installed": ("partner-installed", {}),
}


@pytest.fixture(scope="module")
def job_id(gateway: Gateway) -> str:
    answer = httpx.post(
        f"{gateway.url}/v1/jobs", json=gateway.info["example_job"], headers=gateway.auth()
    )
    assert answer.status_code in (200, 201, 202), answer.text
    return str(answer.json()["job_id"])


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("lever", list(LEVERS))
def test_every_lever_refuses_a_hostile_reason_alike(
    gateway: Gateway, job_id: str, lever: str, text: str
) -> None:
    """a reason with ESC, NUL, U+202E or a newline: refused by every lever alike (400)"""
    path, extra = LEVERS[lever]
    answer = httpx.post(
        f"{gateway.url}/v1/jobs/{job_id}/{path}",
        json={"reason": text, **extra},
        headers=gateway.auth(),
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == "RequestInvalid" and body["message"].startswith("reason:"), body
    assert body["hint"]
    history = httpx.get(f"{gateway.url}/v1/jobs/{job_id}", headers=gateway.auth()).json()
    assert all(text not in str(event.get("detail")) for event in history["history"])


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_the_one_check_names_the_character(text: str) -> None:
    """the reason check names the character it refuses"""
    with pytest.raises(RequestInvalid, match=r"U\+[0-9A-F]{4}"):
        check_reason(text)


def test_plain_reasons_pass_and_long_ones_do_not() -> None:
    """a plain reason (accents, emoji) passes; an overlong one is refused"""
    assert check_reason("  Zertifikat für Zahlungen erneuert ✅ ") == (
        "Zertifikat für Zahlungen erneuert ✅"
    )
    with pytest.raises(RequestInvalid, match=str(MAX_REASON)):
        check_reason("x" * (MAX_REASON + 1))
