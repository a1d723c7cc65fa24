"""ACME problem documents become permanent or transient errors, with the CA's detail."""

from __future__ import annotations

import pytest
from acme import messages

from workers.ca.acme_client import retry_after
from workers.ca.acme_problems import PROBLEMS, translate
from workers.errors import CaRateLimited, CaRejected, CaUnavailable

PERMANENT = ["badCSR", "rejectedIdentifier", "unauthorized", "externalAccountRequired", "caa"]
TRANSIENT = ["serverInternal", "badNonce", "orderNotReady"]


def problem(code: str, detail: str = "the detail") -> messages.Error:
    return messages.Error(typ=f"urn:ietf:params:acme:error:{code}", detail=detail)


@pytest.mark.parametrize("code", PERMANENT)
def test_permanent_problems_fail_the_job_with_the_detail(code: str) -> None:
    error = translate(problem(code, "names not allowed"), doing="create an order", ca="corp")
    assert type(error) is CaRejected
    said = f"the ACME CA 'corp' refused to create an order: {code}: names not allowed"
    assert error.message == said
    assert error.hint == PROBLEMS[code][1]


@pytest.mark.parametrize("code", TRANSIENT)
def test_transient_problems_are_retried(code: str) -> None:
    assert type(translate(problem(code), doing="x", ca="corp")) is CaUnavailable


def test_rate_limited_waits_as_long_as_the_ca_asked() -> None:
    error = translate(problem("rateLimited"), doing="x", ca="corp", retry_after=42)
    assert isinstance(error, CaRateLimited) and error.retry_after == 42
    assert isinstance(error, CaUnavailable)  # transient: the poller tries again later too


def test_an_unknown_problem_is_permanent_and_subproblems_are_named() -> None:
    sub = messages.Error(
        typ="urn:ietf:params:acme:error:rejectedIdentifier",
        detail="not ours",
        identifier=messages.Identifier(typ=messages.IDENTIFIER_FQDN, value="b.example"),
    )
    error = translate(
        messages.Error(typ="urn:example:custom", detail="two names", subproblems=(sub,)),
        doing="create an order",
        ca="corp",
    )
    assert type(error) is CaRejected
    assert "rejectedIdentifier for b.example: not ours" in error.message


def test_retry_after_as_seconds_or_date() -> None:
    assert retry_after("7") == 7
    assert retry_after(None, default=1.0) == 1.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after("soon", default=3.0) == 3.0
