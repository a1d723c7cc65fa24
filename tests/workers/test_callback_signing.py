"""The CA callback's signature check, on its own: what passes and what is refused."""

from __future__ import annotations

import pytest

from workers.callback_signing import WINDOW_S, check_signature, sign
from workers.errors import AuthenticationFailed

JOB = "a" * 32
SECRET, BODY, NOW = b"shared secret", b'{"certificate": "x"}', 1_800_000_000


def test_a_signature_made_with_the_secret_passes_in_either_hex_case() -> None:
    signature = sign(SECRET, str(NOW), BODY, job_id=JOB)
    assert check_signature(SECRET, str(NOW), signature, BODY, job_id=JOB, now=NOW) == signature[7:]
    assert check_signature(
        SECRET, str(NOW), signature.upper().replace("SHA256", "sha256"), BODY, job_id=JOB, now=NOW
    )


@pytest.mark.parametrize("timestamp", ["", "²", "١٢٣", "12a", "-5", " 1800000000", "9" * 13])
def test_a_timestamp_that_is_not_ascii_unix_seconds_is_refused(timestamp: str) -> None:
    with pytest.raises(AuthenticationFailed, match="not Unix seconds"):
        check_signature(
            SECRET, timestamp, sign(SECRET, "1", BODY, job_id=JOB), BODY, job_id=JOB, now=NOW
        )


@pytest.mark.parametrize(
    ("skew", "ok"),
    [(-WINDOW_S, True), (WINDOW_S, True), (-WINDOW_S - 1, False), (WINDOW_S + 1, False)],
)
def test_the_timestamp_window_is_inclusive_on_both_sides(skew: int, ok: bool) -> None:
    timestamp = str(NOW + skew)
    signature = sign(SECRET, timestamp, BODY, job_id=JOB)
    if ok:
        check_signature(SECRET, timestamp, signature, BODY, job_id=JOB, now=NOW)
    else:
        with pytest.raises(AuthenticationFailed, match="gateway's clock"):
            check_signature(SECRET, timestamp, signature, BODY, job_id=JOB, now=NOW)


def test_a_changed_body_or_timestamp_does_not_match() -> None:
    signature = sign(SECRET, str(NOW), BODY, job_id=JOB)
    for timestamp, body in [(str(NOW), BODY + b" "), (str(NOW + 1), BODY)]:
        with pytest.raises(AuthenticationFailed, match="does not match") as refused:
            check_signature(SECRET, timestamp, signature, body, job_id=JOB, now=NOW)
        assert signature[7:] not in str(refused.value) and SECRET.decode() not in str(refused.value)


def test_a_signature_is_good_only_for_the_job_it_names() -> None:
    """Signed for job X and sent to job Y: refused at Y, and X still takes it."""
    signature = sign(SECRET, str(NOW), BODY, job_id=JOB)
    with pytest.raises(AuthenticationFailed, match="does not match the job"):
        check_signature(SECRET, str(NOW), signature, BODY, job_id="b" * 32, now=NOW)
    assert check_signature(SECRET, str(NOW), signature, BODY, job_id=JOB, now=NOW)
