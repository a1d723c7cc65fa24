"""``python -m ops.bench.estate_migration``: adopt and bulk-migrate N hand-made public-CA
integrations to the local CA, with the partner's pause, on RabbitMQ worker processes.

The partner refuses twoway's CA until every renewal waits for it, then installs it; the
poller re-probes, each renewal proves and switches. Printed: the seconds to adopt, to
reach the pause, and from the partner's install to the last switch; the instance's calls,
its writes, and the most calls it had in flight against ``max_concurrent_calls``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ops.dev.sandbox.estate import add_public_ca_integrations
from ops.dev.stack import RunningStack, Stack, StackOptions
from workers.ca import LocalCa
from workers.levers.adopt import Selection, adopt_estate
from workers.levers.migrate import migrate, migration_progress

__all__ = ["run_migration_bench"]


def _until(stack: RunningStack, batch: str, done: Any, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        progress = migration_progress(stack.app, "sandbox", batch)
        if done(progress):
            return progress
        if time.monotonic() > deadline:
            raise TimeoutError(json.dumps(progress["counts"]))
        time.sleep(0.5)


def run_migration_bench(count: int, limit: int, workers: int) -> dict[str, Any]:
    options = StackOptions(
        broker="rabbitmq",
        worker_processes=workers,
        partner_trusts_ca=False,
        probe_every_s=1.0,
        poll_every_s=0.5,
        renewal_every_s=3600.0,
        max_concurrent_calls=limit,
    )
    with Stack(options) as stack:
        add_public_ca_integrations(stack.sandbox.store, stack.third_party.url, count)
        started = time.monotonic()
        adopted = adopt_estate(
            stack.app, "sandbox", Selection(everything=True), ca="local", actor="bench"
        )
        adopt_s = time.monotonic() - started
        writes_before = sum(1 for m, _, _ in stack.sandbox.request_log if m not in ("GET", "HEAD"))
        started = time.monotonic()
        batch = migrate(
            stack.app, "sandbox", ca="local", actor="bench", reason="bench", everything=True
        )
        waiting = _until(
            stack, batch.batch, lambda p: p["counts"].get("waiting_for_third_party") == p["total"]
        )
        pause_s = time.monotonic() - started
        ca = stack.app.deps.cas.get("local")
        assert isinstance(ca, LocalCa)
        started = time.monotonic()
        stack.third_party.trust(ca.root_pem)
        done = _until(stack, batch.batch, lambda p: p["done"] == p["total"])
        switch_s = time.monotonic() - started
        log = stack.sandbox.request_log
        return {
            "integrations": count,
            "max_concurrent_calls": limit,
            "adopted": len(adopted.adopted),
            "adopt_s": round(adopt_s, 2),
            "writes_while_adopting": writes_before,
            "migrations": waiting["total"],
            "to_the_pause_s": round(pause_s, 2),
            "install_to_last_switch_s": round(switch_s, 2),
            "succeeded": done["counts"].get("succeeded", 0),
            "instance_calls": len(log),
            "instance_writes": sum(1 for m, _, _ in log if m not in ("GET", "HEAD")),
            "max_in_flight": stack.sandbox.max_in_flight,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--integrations", type=int, default=20)
    parser.add_argument("--limit", type=int, default=4, help="max_concurrent_calls")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    row = run_migration_bench(args.integrations, args.limit, args.workers)
    for key, value in row.items():
        print(f"{key:>26}  {value}")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
