"""twoway on nine hosts while, in turn, the faults a platform team meets first happen.

A steady stream of jobs goes through the gateway (each retried with its Idempotency-Key
while the gateway cannot answer) while:

1. the stage queues' leader node is killed with -9 (and started again);
2. a worker host is cut off the network for 30 s;
3. a RabbitMQ node (the stage queues' leader again) is cut off for 30 s;
4. the PostgreSQL primary is killed with -9 and the replica promoted 5 s later;
5. a worker host loses 30 % of its packets, at random, for 20 s.

Then: every job accepted reaches a final state and succeeds (none lost, none stuck); the
instance holds exactly one keystore, trust record and protocol profile per job (no stage's
effect made twice); the gateway's metrics count what the store holds. The fault table
(fault, jobs in flight, longest stall, lost, duplicate effects, time to recover), the run
time and the peak memory are printed (and written to ``cluster-report.txt`` under
``TWOWAY_CLUSTER_REPORT`` if set); there are no time limits here.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from messages import TERMINAL_STATES, JobState
from tests.cluster.conftest import DATABASE_URL, Cluster
from workers.sealing import Sealer
from workers.store import Store
from workers.store import schema as t

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

SUBMIT_EVERY_S = 2.0
RECOVERY_WAIT_S = 150.0


def job_request(partner: dict[str, Any]) -> dict[str, Any]:
    i = partner["index"]
    return {
        "instance": "sandbox",
        "target": {"kind": "rest", "name": partner["message"]},
        "subject": {"cn": f"partner-{i}-client", "o": "twoway cluster", "c": "DE"},
        "dns_sans": [f"partner-{i}.example.internal"],
        "key": {"type": "ec256"},
        "ca": {"profile": "local", "adapter": "local"},
        "keystore": {"record_name": f"twoway partner {i}", "alias": "twoway"},
        "server_certificate": {"pem": partner["server_pem"]},
        "protocol_profile": {"name": f"mauthpartner{i}", "port": partner["port"]},
    }


@dataclass
class Stream:
    """Submits a job every SUBMIT_EVERY_S through the gateway, as a workflow would."""

    cluster: Cluster
    token: str
    accepted: dict[str, int] = field(default_factory=dict)  # job id -> partner index
    submitted: dict[str, datetime] = field(default_factory=dict)  # job id -> first attempt
    submit_retries: int = 0
    refused: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        partners = self.cluster.edge["partners"]
        with httpx.Client(base_url=self.cluster.gateway_url, timeout=30) as client:
            for partner in partners:
                if self.stop.is_set():
                    return
                started = time.monotonic()
                self._submit(client, partner)
                self.stop.wait(max(0.0, SUBMIT_EVERY_S - (time.monotonic() - started)))

    def _submit(self, client: httpx.Client, partner: dict[str, Any]) -> None:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": f"cluster-{partner['index']}",
        }
        deadline, first = time.monotonic() + 180, datetime.now(UTC)
        while time.monotonic() < deadline:
            try:
                answer = client.post("/v1/jobs", json=job_request(partner), headers=headers)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code in (200, 202):
                self.accepted[answer.json()["job_id"]] = partner["index"]
                self.submitted[answer.json()["job_id"]] = first
                return
            if answer is not None and answer.status_code < 500:
                self.refused.append(f"{partner['index']}: {answer.status_code} {answer.text}")
                return
            self.submit_retries += 1
            time.sleep(1.0)
        self.refused.append(f"{partner['index']}: the gateway did not answer for 180 s")


@dataclass
class Fault:
    name: str
    started: datetime
    healed: datetime
    recovered: datetime | None = None


@dataclass(frozen=True)
class JobTimes:
    state: JobState
    created: datetime
    final: datetime | None  # when it reached its final state (its last update)

    def in_flight(self, start: datetime, end: datetime, submitted: datetime | None) -> bool:
        """Submitted (or accepted) and not final at some moment of [start, end]."""
        began = min(self.created, submitted or self.created)
        return began < end and (self.final is None or self.final > start)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def final_times(store: Store) -> dict[str, JobTimes]:
    query = select(t.jobs.c.id, t.jobs.c.state, t.jobs.c.created_at, t.jobs.c.updated_at)
    with store._reader.connect() as conn:
        rows = conn.execute(query).all()
    out = {}
    for row in rows:
        state = JobState(row.state)
        final = _aware(row.updated_at) if state in TERMINAL_STATES else None
        out[row.id] = JobTimes(state, _aware(row.created_at), final)
    return out


def not_final(store: Store, jobs: set[str]) -> set[str]:
    times = final_times(store)
    return {job for job in jobs if job not in times or times[job].final is None}


def event_counts(store: Store, kind: str) -> list[datetime]:
    query = select(t.events.c.at).where(t.events.c.kind == kind)
    with store._reader.connect() as conn:
        return [_aware(row.at) for row in conn.execute(query).all()]


def run_fault(
    name: str, cluster: Cluster, store: Store, stream: Stream, act: Callable[[], None]
) -> Fault:
    started = datetime.now(UTC)
    act()
    fault = Fault(name, started, datetime.now(UTC))
    waiting = set(stream.accepted)
    deadline = time.monotonic() + RECOVERY_WAIT_S
    while time.monotonic() < deadline:
        if not not_final(store, waiting):
            fault.recovered = datetime.now(UTC)
            break
        time.sleep(1.0)
    return fault


def most_leading(cluster: Cluster, ask: int = 0) -> str:
    """The host whose node leads the most stage queues (asked of a node that is up)."""
    leaders = cluster.rabbits[ask].leaders()
    stage = [node for queue, node in leaders.items() if not queue.endswith((".DQ", ".XQ", ".jobs"))]
    [(node, _)] = Counter(stage).most_common(1)
    return node.split("@", 1)[1]


def kill_leader(cluster: Cluster) -> None:
    host = most_leading(cluster)
    node = cluster.rabbit_on(host)
    node.kill()
    time.sleep(10)
    node.start().wait_ready()


def cut_for(host_name: str, seconds: float) -> Callable[[Cluster], None]:
    def act(cluster: Cluster) -> None:
        host = cluster.network[host_name]
        host.cut()
        time.sleep(seconds)
        host.heal()

    return act


def cut_leader(cluster: Cluster) -> None:
    host = most_leading(cluster)
    cut_for(host, 30)(cluster)


def fail_over_database(cluster: Cluster) -> None:
    """The primary dies; a failover tool notices after a few seconds and promotes."""
    cluster.primary.kill()
    time.sleep(5)
    cluster.replica.promote()


def lose_packets(cluster: Cluster) -> None:
    host = cluster.network["tw27w2"]
    host.lose(30)
    time.sleep(20)
    host.heal()


FAULTS: list[tuple[str, Callable[[Cluster], None]]] = [
    ("stage queues' leader killed -9", kill_leader),
    ("worker host cut off 30 s", cut_for("tw27w1", 30)),
    ("RabbitMQ node (leader) cut off 30 s", cut_leader),
    ("PostgreSQL primary killed, replica promoted", fail_over_database),
    ("30 % packet loss on a worker host 20 s", lose_packets),
]


def wait_gateway(cluster: Cluster) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{cluster.gateway_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if cluster.processes["gateway"].poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"the gateway did not start:\n{cluster.log_tail('gateway')}")


def instance_records(cluster: Cluster) -> dict[str, list[dict[str, str]]]:
    auth = (cluster.edge["username"], cluster.edge["password"])
    answer = httpx.get(f"{cluster.edge['sandbox_url']}/sandbox/dump", auth=auth, timeout=30)
    answer.raise_for_status()
    dump: dict[str, list[dict[str, str]]] = answer.json()
    return dump


def duplicates(cluster: Cluster, jobs: dict[str, int]) -> dict[str, list[str]]:
    """Jobs whose partner has anything but exactly one keystore, trust record and profile."""
    dump = instance_records(cluster)
    certificates = dump["sys_certificate"]
    pems = {p["index"]: p["server_pem"].strip() for p in cluster.edge["partners"]}
    found: dict[str, list[str]] = {}
    for job_id, index in jobs.items():
        counts = {
            "keystore": sum(
                r["type"] == "key_store" and r["name"] == f"twoway partner {index}"
                for r in certificates
            ),
            "trust": sum(
                r["type"] == "trust_store" and r["pem_certificate"].strip() == pems[index]
                for r in certificates
            ),
            "profile": sum(
                p["protocol"] == f"mauthpartner{index}" for p in dump["sys_protocol_profile"]
            ),
        }
        wrong = [f"{kind}={n}" for kind, n in counts.items() if n != 1]
        if wrong:
            found[job_id] = wrong
    return found


def metric_counts(cluster: Cluster, token: str) -> dict[str, int]:
    answer = httpx.get(
        f"{cluster.gateway_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    answer.raise_for_status()
    counts = {}
    for line in answer.text.splitlines():
        if line.startswith("twoway_jobs{"):
            labels, value = line.rsplit(" ", 1)
            state = labels.split('state="', 1)[1].split('"', 1)[0]
            counts[state] = int(float(value))
    return {state: n for state, n in counts.items() if n}


def longest_stall(done: list[datetime], start: datetime, end: datetime) -> float:
    """The longest time in [start, end] in which no job reached its final state."""
    marks = [start, *sorted(d for d in done if start < d < end), end]
    return max((b - a).total_seconds() for a, b in itertools.pairwise(marks))


def fault_table(
    faults: list[Fault], times: dict[str, JobTimes], dup: set[str], lost: set[str],
    deferred: list[datetime], resent: list[datetime], submitted: dict[str, datetime],
) -> str:  # fmt: skip
    done = [job.final for job in times.values() if job.final is not None]
    rows = [
        "| fault | jobs in flight | longest stall (s) | jobs lost | duplicate effects"
        " | time to recover (s) | sends deferred | messages re-sent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fault in faults:
        end = fault.recovered or datetime.now(UTC)
        flying = {
            job
            for job, at in times.items()
            if at.in_flight(fault.started, fault.healed, submitted.get(job))
        }
        recover = (
            f"{(fault.recovered - fault.healed).total_seconds():.1f}"
            if fault.recovered
            else f"> {RECOVERY_WAIT_S:.0f}"
        )
        rows.append(
            f"| {fault.name} | {len(flying)} | {longest_stall(done, fault.started, end):.1f}"
            f" | {len(flying & lost)} | {len(flying & dup)} | {recover}"
            f" | {sum(fault.started <= at <= end for at in deferred)}"
            f" | {sum(fault.started <= at <= end for at in resent)} |"
        )
    return "\n".join(rows)


def test_jobs_survive_broker_worker_and_database_failures(cluster: Cluster) -> None:
    began = time.monotonic()
    wait_gateway(cluster)
    store = Store(DATABASE_URL, Sealer([cluster.env["TWOWAY_MASTER_KEY"]]))
    _, token = store.tokens.create("cluster test", "operator")
    types = cluster.rabbits[0].queue_types()
    stream = Stream(cluster, token)
    submitter = threading.Thread(target=stream.run, daemon=True)
    submitter.start()
    try:
        time.sleep(20)  # a steady state first
        faults = [
            run_fault(name, cluster, store, stream, lambda act=act: act(cluster))
            for name, act in FAULTS
        ]
    finally:
        stream.stop.set()
        submitter.join(timeout=200)
    accepted = dict(stream.accepted)
    deadline = time.monotonic() + 240
    while not_final(store, set(accepted)) and time.monotonic() < deadline:
        time.sleep(1.0)
    times = final_times(store)
    states = Counter(times[job].state.value for job in accepted if job in times)
    lost = not_final(store, set(accepted))
    dup = duplicates(cluster, accepted)
    run_s = time.monotonic() - began
    deferred, resent = event_counts(store, "send_deferred"), event_counts(store, "message_resent")
    table = fault_table(faults, times, set(dup), lost, deferred, resent, stream.submitted)
    report = (
        f"{table}\n\njobs accepted: {len(accepted)}, final states: {dict(states)},"
        f" submissions retried: {stream.submit_retries}\n"
        f"queue types: {sorted(set(types.values()))}\n"
        f"test body: {run_s:.0f} s; peak memory of every process (cluster and test):"
        f" {cluster.peak_rss_mb:.0f} MB\n"
    )
    print("\n" + report)
    if os.environ.get("TWOWAY_CLUSTER_REPORT"):
        Path(os.environ["TWOWAY_CLUSTER_REPORT"]).write_text(report)
    assert not stream.refused, stream.refused
    assert set(types.values()) == {"quorum"}, types
    assert not lost, f"jobs not final: {sorted(lost)}"
    assert states == Counter({"succeeded": len(accepted)}), states
    assert not dup, dup
    store_counts = Counter(job.state.value for job in times.values())
    assert metric_counts(cluster, token) == dict(store_counts)
    store.close()
