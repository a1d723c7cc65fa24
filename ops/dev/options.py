"""What a development stack is made of: its options, grouped (broker, sandbox, partner).

Every group is a small frozen model, checked when it is made: a bad option is a
``ConfigError`` naming the field, before anything starts. ``StackOptions`` also takes the
older flat keywords (``broker="rabbitmq", worker_processes=0``) and sorts them into their
groups, so that callers written before the groups keep working.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ops.dev.sandbox import Pacing, SandboxFacts
from workers.config import PipelineConfig
from workers.errors import ConfigError
from workers.machinery.broker import BrokerKind

__all__ = [
    "DEFAULT_BROKER_URL",
    "BrokerOptions",
    "PartnerOptions",
    "SandboxOptions",
    "StackOptions",
    "stack_options",
]

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672"

_FROZEN = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _broker_url() -> str:
    return os.environ.get("TWOWAY_BROKER_URL", DEFAULT_BROKER_URL)


class BrokerOptions(BaseModel):
    """Where the stages run: dramatiq's stub broker in this process, or RabbitMQ."""

    model_config = _FROZEN

    kind: BrokerKind = "stub"
    url: str = Field(default_factory=_broker_url)
    # With kind="rabbitmq": how many ``twoway worker`` processes, and threads in each.
    worker_processes: int = Field(default=2, ge=0, le=64)
    worker_threads: int = Field(default=4, ge=1, le=256)
    # With kind="rabbitmq": the AMQP intake (<prefix>.jobs) and the events relay too.
    amqp: bool = False


class SandboxOptions(BaseModel):
    """How the sandbox instance answers, and a second one if asked for."""

    model_config = _FROZEN

    # The answers to the uncertain facts (None: the defaults of SandboxFacts).
    facts: SandboxFacts | None = None
    # Latency and the sandbox's own concurrency limit (None: at once).
    pacing: Pacing | None = None
    # (connect, read) timeouts of the "sandbox" instance profile, e.g. short for fault tests.
    instance_timeouts: tuple[float, float] | None = None
    # max_concurrent_calls and slot_wait_s of the instance profiles (None: the defaults).
    max_concurrent_calls: int | None = Field(default=None, ge=1)
    slot_wait_s: float | None = Field(default=None, ge=0)
    # A second sandbox instance, profile "sandbox2", answering with this pacing.
    second_instance: Pacing | None = None
    second_max_concurrent_calls: int | None = Field(default=None, ge=1)
    # The sandbox holds a hand-made mutual-TLS estate (ops/dev/sandbox/estate.py): its
    # messages point at the third party and at a second third party (``partner`` of the
    # running stack) that rotated its server certificate after its leaf was pinned.
    estate: bool = False


class PartnerOptions(BaseModel):
    """The third party whose endpoint requires our client certificate."""

    model_config = _FROZEN

    # Whether it accepts certificates of the local CA from the start. When not, a job
    # waits in waiting_for_third_party until ``third_party.trust(...)``.
    trusts_ca: bool = True
    # [third_party] probe_every_s for this stack (None: pipeline.toml's).
    probe_every_s: float | None = Field(default=None, gt=0)


# The flat keywords of the options before they were grouped: (group, field in the group).
_FLAT: dict[str, tuple[str, str]] = {
    "broker_url": ("broker", "url"),
    "worker_processes": ("broker", "worker_processes"),
    "worker_threads": ("broker", "worker_threads"),
    "amqp": ("broker", "amqp"),
    "sandbox_facts": ("sandbox", "facts"),
    "sandbox_pacing": ("sandbox", "pacing"),
    "instance_timeouts": ("sandbox", "instance_timeouts"),
    "max_concurrent_calls": ("sandbox", "max_concurrent_calls"),
    "slot_wait_s": ("sandbox", "slot_wait_s"),
    "second_instance": ("sandbox", "second_instance"),
    "second_max_concurrent_calls": ("sandbox", "second_max_concurrent_calls"),
    "estate": ("sandbox", "estate"),
    "partner_trusts_ca": ("partner", "trusts_ca"),
    "probe_every_s": ("partner", "probe_every_s"),
}


class StackOptions(BaseModel):
    """Everything ``Stack`` starts from, checked when made (``stack_options``: ConfigError)."""

    model_config = _FROZEN

    broker: BrokerOptions = Field(default_factory=BrokerOptions)
    sandbox: SandboxOptions = Field(default_factory=SandboxOptions)
    partner: PartnerOptions = Field(default_factory=PartnerOptions)
    config: PipelineConfig | None = None
    # Where the stack keeps its files (None: a new temporary folder, removed at stop).
    state_dir: Path | None = None
    # The store (None: a new SQLite file in the state directory). An empty database: the
    # stack's jobs are all the jobs it counts.
    database_url: str | None = None
    keep_state: bool = False
    chaos: tuple[str, ...] = ()
    # How often the poller looks at jobs waiting for their CA (max_wait, pollable CAs).
    poll_every_s: float = Field(default=30.0, gt=0)
    # How often the renewal scheduler looks (None: pipeline.toml's [renewal] check_every_s).
    renewal_every_s: float | None = Field(default=None, gt=0)
    # How often the revoker and the notifier run (None: not at all; tests run them).
    lifecycle_every_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _group_flat_keywords(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("broker"), str):
            data["broker"] = {"kind": data["broker"]}
        for flat, (group, name) in _FLAT.items():
            if flat in data:
                value = data.pop(flat)
                current = data.get(group)
                fields = current.model_dump() if isinstance(current, BaseModel) else current
                data[group] = {**(fields or {}), name: value}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> StackOptions:
        if self.broker.amqp and self.broker.kind != "rabbitmq":
            raise ValueError("broker.amqp (the AMQP intake and relay) needs broker kind rabbitmq")
        return self


def stack_options(**fields: Any) -> StackOptions:
    """``StackOptions(**fields)``, its refusal as a ``ConfigError`` naming each field."""
    try:
        return StackOptions(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"stack options refused: {problems}", hint="see ops/dev/options.py"
        ) from None
