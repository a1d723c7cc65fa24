"""Injected failures: server errors, rate limiting, slow answers and reset connections.

A :class:`FaultPlan` says which share of the calls to ``/api/now/*`` and
``/oauth_token.do`` fail and how. Draws come from a seeded ``random.Random``, so a test
sees the same sequence every run. With ``after_write`` a faulted write is carried out
first and only its answer is lost (for every faulted write, or for a share of them): the
way to prove that a client's retries are idempotent.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ops.dev.sandbox.wire import Request, Response, error

__all__ = ["WRITE_METHODS", "FaultInjector", "FaultKind", "FaultPlan"]

FaultKind = Literal["500", "503", "429", "slow", "reset"]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RATE_LIMIT_RULE = "5f1d4b7e8a2c4e6f9b0d1a3c5e7f9a1b"


class FaultPlan(BaseModel):
    """Which calls fail, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(0.0, ge=0.0, le=1.0)
    kinds: tuple[FaultKind, ...] = ("500", "503", "429", "slow", "reset")
    seed: int = 0
    # True: a faulted write is carried out and only its answer is lost; a number: that
    # share of the faulted writes (drawn from the seed), the others never happen.
    after_write: bool | float = Field(False, ge=0.0, le=1.0)
    slow_seconds: float = Field(2.0, ge=0.0)
    retry_after: int = Field(1, ge=0)
    paths: tuple[str, ...] | None = None  # path prefixes; None = every API path
    methods: tuple[str, ...] | None = None  # e.g. ("POST",); None = every method
    max_faults: int | None = Field(None, ge=0)  # stop after this many faults
    rate_limit_per_hour: int = Field(1000, ge=1)


def _api_name(path: str) -> str:
    if "/attachment" in path:
        return "Attachment API"
    if path.startswith("/oauth_token.do"):
        return "OAuth API"
    return "Table API"


class FaultInjector:
    """Draws faults for a plan and builds the answers that replace real ones."""

    def __init__(self, retry_after_header: str = "Retry-After") -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._random = random.Random(0)  # noqa: S311 - test faults, not security
        self._retry_after_header = retry_after_header
        self.served: Counter[str] = Counter()
        self.landed = 0  # faulted writes carried out before their answer was lost

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set(self, plan: FaultPlan) -> None:
        """Apply a plan from now on (the random sequence restarts from its seed)."""
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed)  # noqa: S311
            self.served.clear()
            self.landed = 0

    def clear(self) -> None:
        self.set(FaultPlan())

    def draw(self, request: Request) -> FaultKind | None:
        """The fault this call gets, if any (counted as served)."""
        plan = self._plan
        if plan.rate <= 0 or not plan.kinds:
            return None
        if plan.paths is not None and not request.path.startswith(plan.paths):
            return None
        if plan.methods is not None and request.method not in plan.methods:
            return None
        with self._lock:
            if plan.max_faults is not None and sum(self.served.values()) >= plan.max_faults:
                return None
            if self._random.random() >= plan.rate:
                return None
            kind = self._random.choice(plan.kinds)
            self.served[kind] += 1
            return kind

    def write_lands(self, request: Request) -> bool:
        """Whether a faulted call is carried out before its answer is lost (``after_write``)."""
        share = float(self._plan.after_write)
        if request.method not in WRITE_METHODS or share <= 0.0:
            return False
        with self._lock:
            lands = share >= 1.0 or self._random.random() < share
            self.landed += lands
            return lands

    def delays(self, kind: FaultKind) -> bool:
        """Sleep for a slow fault; True if the call then goes on normally."""
        if kind != "slow":
            return False
        time.sleep(self._plan.slow_seconds)
        return True

    def answer(self, kind: FaultKind, request: Request) -> Response:
        """The answer that replaces the real one."""
        plan = self._plan
        if kind == "reset":
            return Response(0, abort=True)
        if kind == "503":
            return error(
                503, "Service Unavailable", "The instance is not available, try again later"
            )
        if kind == "500":
            return error(
                500, "Internal Server Error", "An unexpected error occurred on the instance"
            )
        limit = plan.rate_limit_per_hour
        headers = [
            (self._retry_after_header, str(plan.retry_after)),
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Reset", str(int(time.time()) + max(plan.retry_after, 1))),
            ("X-RateLimit-Rule", RATE_LIMIT_RULE),
        ]
        detail = f"Rate limit of {limit} requests per hour for {_api_name(request.path)} exceeded"
        return error(429, "Rate limit exceeded", detail, headers)
