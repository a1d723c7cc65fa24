"""End-to-end fixtures: real RabbitMQ, real worker processes, the sandbox instance.

RabbitMQ must be up (``.ci/run`` starts it); a test that needs it fails loudly rather
than skipping.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest

from messages import TERMINAL_STATES, WAITING_STATES, JobState, KeyType
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.conftest import AMQP_URL
from workers.ca import LocalCa


@pytest.fixture(scope="session", autouse=True)
def rabbitmq_is_up() -> None:
    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except pika.exceptions.AMQPConnectionError as exc:
        pytest.fail(
            f"RabbitMQ is not reachable at {AMQP_URL}: start it with"
            f" 'rabbitmq-server -detached' ({exc})"
        )


@dataclass
class Partner:
    """One third party: its own TLS endpoint and its own REST message on the instance."""

    index: int
    server: ThirdPartyServer
    message: str
    message_sys_id: str


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_ca(stack: RunningStack) -> LocalCa:
    ca = stack.app.deps.cas.get("local") if stack.app else None
    assert isinstance(ca, LocalCa)
    return ca


def add_partners(stack: RunningStack, count: int, *, start: int = 0) -> list[Partner]:
    root = local_ca(stack).root_pem
    partners = []
    for index in range(start, start + count):
        server = ThirdPartyServer([root]).start()
        name = f"Partner {index} API"
        sys_id = stack.sandbox.add_rest_message(name, server.url, methods=("get", "post", "delete"))
        partners.append(Partner(index, server, name, sys_id))
    return partners


def job_for(stack: RunningStack, partner: Partner, key: str = "ec256") -> dict[str, Any]:
    return stack.example_job(
        KeyType(key),
        target={"kind": "rest", "name": partner.message},
        subject={"cn": f"partner-{partner.index}-client", "o": "twoway e2e", "c": "DE"},
        keystore={"record_name": f"twoway partner {partner.index}", "alias": "twoway"},
        server_certificate={"pem": partner.server.server_certificate_pem.decode()},
        protocol_profile={"name": f"mauthpartner{partner.index}", "port": partner.server.port},
    )


def wait_all(
    stack: RunningStack, job_ids: list[str], timeout: float = 240, *, through_waits: bool = False
) -> dict[str, JobState]:
    """Until every job has ended, or waits for a person (its CA, the third party); with
    ``through_waits``, until every job has ended (a poller resumes the waits)."""
    deadline = time.monotonic() + timeout
    while True:
        states = {job_id: stack.app.store.get_job(job_id).state for job_id in job_ids}
        settled = TERMINAL_STATES if through_waits else TERMINAL_STATES | WAITING_STATES
        if all(state in settled for state in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.25)


# Columns the platform stamps on every update: they change whenever a row is written.
UPDATE_STAMPS = frozenset({"sys_updated_on", "sys_updated_by", "sys_mod_count"})


def dump_changes(
    before: dict[str, list[dict[str, str]]], after: dict[str, list[dict[str, str]]]
) -> dict[str, dict[str, Any]]:
    """What differs between two sandbox dumps, per table: rows added and removed (sys_ids)
    and, per row in both, each changed column as (before, after)."""
    changes: dict[str, dict[str, Any]] = {}
    for table in sorted(set(before) | set(after)):
        old = {row["sys_id"]: row for row in before.get(table, [])}
        new = {row["sys_id"]: row for row in after.get(table, [])}
        changed = {}
        for sys_id in sorted(set(old) & set(new)):
            columns = sorted(set(old[sys_id]) | set(new[sys_id]))
            diff = {
                c: (old[sys_id].get(c), new[sys_id].get(c))
                for c in columns
                if old[sys_id].get(c) != new[sys_id].get(c)
            }
            if diff:
                changed[sys_id] = diff
        added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
        if added or removed or changed:
            changes[table] = {"added": added, "removed": removed, "changed": changed}
    return changes


@pytest.fixture
def rabbit_stack(request: pytest.FixtureRequest) -> Iterator[RunningStack]:
    chaos = getattr(request, "param", ())
    stack = Stack(
        StackOptions(broker="rabbitmq", worker_processes=2, worker_threads=4, chaos=chaos)
    )
    with stack.start() as stack:
        yield stack
