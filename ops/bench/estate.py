"""``python -m ops.bench.estate``: ``discover`` against an instance of 500 messages and 300
certificates, with every call taking 150 ms (the sandbox's pacing).

The instance: ``certificates`` records, half keystores (a JKS attached, each its own
record) and half Trust Store Certs; ``profiles`` protocol profiles over the keystores;
``messages`` REST messages on mutual auth (two methods each) spread over the profiles.
Printed for each ``max_concurrent_calls``: the calls discover made, the seconds it took,
the most calls the instance had in flight, and the floor (calls x latency / limit).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

from ops.dev.sandbox import Pacing
from ops.dev.sandbox.live import add_keystore_record, self_signed_keystore
from ops.dev.sandbox.seed import SYSTEM_USER, add_rest_message
from ops.dev.sandbox.store import SandboxStore
from ops.dev.stack import Stack, StackOptions
from workers.estate.inventory import discover_estate

__all__ = ["EstateBenchOptions", "add_large_estate", "run_estate_bench"]


@dataclass
class EstateBenchOptions:
    messages: int = 500
    certificates: int = 300
    latency_ms: float = 150.0
    limits: tuple[int, ...] = (1, 4, 8)


def add_large_estate(store: SandboxStore, endpoint: str, messages: int, certificates: int) -> None:
    """``certificates`` records (half keystores) and ``messages`` messages on mutual auth."""
    facts = store.facts
    keystores = max(1, certificates // 2)
    profiles = []
    for index in range(keystores):
        data, password = self_signed_keystore(f"client {index}")
        sys_id = add_keystore_record(store, f"keystore {index}", data, password)
        row = {"protocol": f"mauth{index}", "default_port": "443", "keystore": sys_id}
        profiles.append(store.insert("sys_protocol_profile", row, SYSTEM_USER)["sys_id"])
    for index in range(certificates - keystores):
        pem = self_signed_pem(f"partner {index}")
        row = {
            "name": f"trust {index}",
            "type": facts.trust_store_type[0],
            "format": facts.pem_format[0],
        }
        store.insert(
            "sys_certificate", {**row, "pem_certificate": pem, "active": "true"}, SYSTEM_USER
        )
    for index in range(messages):
        message = add_rest_message(store, f"message {index}", endpoint, ("get", "post"))
        on = {"use_mutual_auth": "true", "protocol_name": profiles[index % len(profiles)]}
        store.update("sys_rest_message", message, on, SYSTEM_USER)
        for method in store.find("sys_rest_message_fn", "rest_message", message):
            store.update("sys_rest_message_fn", method["sys_id"], on, SYSTEM_USER)


def self_signed_pem(common_name: str) -> str:
    from ops.dev.sandbox.estate_pki import HandCa

    return HandCa(common_name, "bench").pem.decode()


def _run(options: EstateBenchOptions, limit: int) -> dict[str, Any]:
    stack_options = StackOptions(max_concurrent_calls=limit)
    with Stack(stack_options) as stack:
        add_large_estate(
            stack.sandbox.store, stack.third_party.url, options.messages, options.certificates
        )
        stack.sandbox.pace(Pacing(distribution="fixed", latency_ms=options.latency_ms))
        started = time.monotonic()
        report = discover_estate("sandbox", stack.app.config, stack.app.deps.instances)
        seconds = time.monotonic() - started
        writes = [m for m, _, _ in stack.sandbox.request_log if m not in ("GET", "HEAD")]
        return {
            "max_concurrent_calls": limit,
            "messages": len(report.messages),
            "certificates": len(report.certificates),
            "calls": report.calls,
            "seconds": round(seconds, 2),
            "floor_s": round(report.calls * options.latency_ms / 1000 / limit, 2),
            "max_in_flight": stack.sandbox.max_in_flight,
            "write_calls": len(writes),
            "findings": len(report.findings),
        }


def run_estate_bench(options: EstateBenchOptions) -> list[dict[str, Any]]:
    return [_run(options, limit) for limit in options.limits]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--certificates", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--limits", default="1,4,8", help="max_concurrent_calls to try")
    args = parser.parse_args()
    options = EstateBenchOptions(
        messages=args.messages,
        certificates=args.certificates,
        latency_ms=args.latency_ms,
        limits=tuple(int(x) for x in args.limits.split(",")),
    )
    print(
        f"discover: {options.messages} messages, {options.certificates} certificates,"
        f" {options.latency_ms:g} ms a call"
    )
    print("limit  calls  seconds  floor_s  max_in_flight  write_calls  findings")
    for row in run_estate_bench(options):
        print(
            f"{row['max_concurrent_calls']:>5}  {row['calls']:>5}  {row['seconds']:>7}"
            f"  {row['floor_s']:>7}  {row['max_in_flight']:>13}  {row['write_calls']:>11}"
            f"  {row['findings']:>8}"
        )
        print(json.dumps(row))


if __name__ == "__main__":
    main()
