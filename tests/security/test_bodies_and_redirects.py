"""Bodies the gateway cannot parse get the documented ``{error, message, hint}`` (not a
framework's terse detail), and the console's sign-in never returns anyone outside /ui,
however the path is dressed (dot segments, percent-encoded or twice encoded)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.security.conftest import Gateway

BODIES = {
    "5000-deep nesting": b"[" * 5000 + b"]" * 5000,
    "not JSON": b"this is not json",
    "bad UTF-8": b'{"instance": "\xff\xfe"}',
    "truncated": b'{"instance": ',
}


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/plan"])
def test_an_unparseable_body_gets_the_documented_error(
    gateway: Gateway, body: bytes, path: str
) -> None:
    """unparseable body (deep nesting, not JSON, bad UTF-8): {error, message, hint}"""
    answer = httpx.post(
        f"{gateway.url}{path}",
        content=body,
        headers={**gateway.auth(), "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text
    found = answer.json()
    assert set(found) == {"error", "message", "hint"}, found
    assert found["error"] == "RequestInvalid" and found["message"].startswith("body:"), found


def test_an_unparseable_body_without_a_token_is_refused_for_the_token(gateway: Gateway) -> None:
    """unparseable body without a token: 401, the body tells a stranger nothing"""
    answer = httpx.post(
        f"{gateway.url}/v1/jobs", content=b"[" * 5000, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401, answer.text


ESCAPES = [
    "/ui/../metrics",
    "/ui/%2e%2e/%2e%2e/metrics",
    "/ui/%2E%2E/v1/jobs",
    "/ui/%252e%252e/metrics",
    "/ui/./../openapi.json",
    "/ui//evil.example/",
    "/ui/%2f%2fevil.example/",
    "/ui/\\evil.example",
    "https://evil.example/ui/",
]


def _sign_in(gateway: Gateway, next_: str) -> str:
    browser = httpx.Client(base_url=gateway.url)
    form = browser.get("/ui/signin", params={"next": next_})
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = browser.post(
        "/ui/signin", data={"token": gateway.token, "csrf": csrf.group(1), "next": next_}
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


@pytest.mark.parametrize("next_", ESCAPES)
def test_sign_in_never_redirects_out_of_the_console(gateway: Gateway, next_: str) -> None:
    """sign-in next= with dot segments (encoded or not): back to /ui/jobs"""
    assert _sign_in(gateway, next_) == "/ui/jobs"


def test_sign_in_returns_to_a_console_page(gateway: Gateway) -> None:
    """sign-in next= naming a console page: returns there"""
    assert _sign_in(gateway, "/ui/waiting?sort=age") == "/ui/waiting?sort=age"
