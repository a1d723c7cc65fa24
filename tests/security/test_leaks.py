"""Item 8 of issue 16 (small leaks), and probes of the gateway's guards that held before:
what a caller without a token learns. Against the real gateway process."""

from __future__ import annotations

import json

import httpx
import pytest

from workers.readiness.admission import fetch_allowed

from .conftest import Gateway


def test_healthz_says_only_up_or_down(gateway: Gateway) -> None:
    """/healthz without a token: only up/down, no job counts"""
    answer = httpx.get(f"{gateway.url}/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/jobs", b"{not json"),
        ("/v1/jobs", b'{"instance": 3}'),
        ("/v1/jobs/00000000000000000000000000000000/replay", b"[]"),
    ],
)
def test_an_operator_route_refuses_a_stranger_before_reading_the_body(
    gateway: Gateway, path: str, body: bytes
) -> None:
    """operator route, bad body, no token: 401 before 400/422"""
    answer = httpx.post(
        f"{gateway.url}{path}", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401, answer.text
    assert "instance" not in answer.text


def test_a_read_token_is_refused_an_operator_route_before_its_body_is_read(
    gateway: Gateway,
) -> None:
    """operator route, bad body, wrong token: 401 before 422"""
    answer = httpx.post(
        f"{gateway.url}/v1/jobs",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": "Bearer twoway_x_y"},
    )
    assert answer.status_code == 401


def test_a_valid_token_still_learns_what_is_wrong_with_its_body(gateway: Gateway) -> None:
    """operator route, bad body, operator token: 422 with the field named"""
    answer = httpx.post(f"{gateway.url}/v1/jobs", json={"instance": 3}, headers=gateway.auth())
    assert answer.status_code == 422
    assert "instance" in answer.json()["message"]


@pytest.mark.parametrize("path", ["/v1/jobs", "/metrics", "/v1/dead-letters"])
def test_guarded_reads_need_a_token(gateway: Gateway, path: str) -> None:
    """guarded GET routes without a token: 401 or 404, never data"""
    answer = httpx.get(f"{gateway.url}{path}")
    assert answer.status_code in (401, 404, 429)
    assert "twoway_" not in answer.text


def test_a_callback_with_a_zero_signature_is_refused(gateway: Gateway) -> None:
    """CA callback with a zero signature: refused (401, 404 or 429)"""
    answer = httpx.post(
        f"{gateway.url}/v1/jobs/00000000000000000000000000000000/ca-callback",
        json={"certificate": "x"},
        headers={"X-Twoway-Timestamp": "0", "X-Twoway-Signature": "0" * 64},
    )
    assert answer.status_code in (401, 404, 429)


def test_a_record_name_a_query_cannot_carry_is_refused_at_admission(gateway: Gateway) -> None:
    """job with keystore.record_name holding '^': 422 at admission"""
    job = dict(gateway.info["example_job"])
    job["keystore"] = {"record_name": "x^ORDERBYsys_id", "alias": "twoway"}
    answer = httpx.post(f"{gateway.url}/v1/jobs", json=job, headers=gateway.auth())
    assert answer.status_code == 422, answer.text
    assert "record_name" in answer.json()["message"] and "'^'" in answer.json()["message"]


def test_a_callback_profile_without_trusted_roots_is_warned_about(gateway: Gateway) -> None:
    """shipped 'manual' profile without trusted_roots_file: warned at start-up"""
    warnings = [
        json.loads(line)
        for line in gateway.log.read_text().splitlines()
        if "ca_profile_trusts_any_root" in line
    ]
    assert [w["profile"] for w in warnings] == ["manual"]
    assert "trusted_roots_file" in warnings[0]["hint"]


@pytest.mark.parametrize(
    ("pattern", "host", "port", "allowed"),
    [
        ("partner.example", "partner.example", 443, True),
        ("partner.example", "partner.example", 22, False),
        ("partner.example:8443", "partner.example", 8443, True),
        ("partner.example:8443", "partner.example", 8444, False),
        ("*.partner.example:*", "api.partner.example", 25, True),
    ],
)
def test_a_fetch_is_allowed_by_host_and_port(
    pattern: str, host: str, port: int, allowed: bool
) -> None:
    """fetch_hosts allow host:port pairs (a bare host: 443 only)"""
    assert fetch_allowed(pattern, host, port) is allowed
