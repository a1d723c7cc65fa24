"""The instance's estate through the gateway: discover (read-only), adopt, migrate."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ops.cli.client import EXIT_FAILED, EXIT_USAGE, CliError, Gateway, resolve
from ops.cli.commands.remote import add_remote, gateway, seconds
from ops.cli.output import emit, table

__all__ = ["register"]

_SLOW_S = 900.0  # discovery of a large estate at a slow instance takes minutes


def register(sub: Any) -> None:
    discover = sub.add_parser(
        "discover", help="everything mutual TLS on an instance, and what is at risk (read-only)"
    )
    discover.add_argument("--instance", required=True, help="an instance profile of pipeline.toml")
    discover.add_argument("--no-probe", action="store_true", help="do not contact the partners")
    add_remote(discover)
    discover.set_defaults(run=_discover)

    adopt = sub.add_parser(
        "adopt", help="bring discovered integrations under management (the instance is untouched)"
    )
    adopt.add_argument("--instance", required=True)
    adopt.add_argument("--ca", required=True, help="the CA profile their renewals use")
    adopt.add_argument("names", nargs="*", help="REST or SOAP message names")
    adopt.add_argument("--all", action="store_true", help="every one the filters keep")
    adopt.add_argument("--kind", choices=["rest", "soap"])
    adopt.add_argument("--protocol", action="append", default=[], help="a profile's protocol")
    adopt.add_argument(
        "--finding", help="only those with this finding (e.g. public_ca_client_certificate)"
    )
    add_remote(adopt)
    adopt.set_defaults(run=_adopt)

    migrate = sub.add_parser(
        "migrate", help="renew managed integrations onto another CA profile (partner pause, proof)"
    )
    migrate.add_argument("--instance", required=True)
    migrate.add_argument("--ca", required=True, help="the CA profile to move onto")
    migrate.add_argument("--job", action="append", default=[], help="a managed certificate's job")
    migrate.add_argument("--finding", help="the adopted ones that had this finding")
    migrate.add_argument("--all", action="store_true")
    migrate.add_argument("--reason", default="migrated by an operator")
    migrate.add_argument("--wait", action="store_true", help="show progress until all are done")
    migrate.add_argument(
        "--every", type=seconds, default=2.0, help="seconds between progress lines"
    )
    migrate.add_argument(
        "--wave-size", type=int, help="this many at a time; the next wave when one ended well"
    )
    migrate.add_argument("--batch", help="show the progress of this batch instead of starting one")
    halted = migrate.add_mutually_exclusive_group()
    halted.add_argument(
        "--continue", dest="go_on", action="store_true", help="with --batch: start the next wave"
        " of a batch a failure halted"
    )  # fmt: skip
    halted.add_argument(
        "--stop", action="store_true", help="with --batch: withdraw what is still queued"
    )
    add_remote(migrate)
    migrate.set_defaults(run=_migrate)


def _slow(args: argparse.Namespace) -> Gateway:
    return Gateway(resolve(args.url, args.token), timeout_s=_SLOW_S)


def _discover(args: argparse.Namespace) -> int:
    from ops.cli.estate_view import render_estate

    probe = "false" if args.no_probe else None
    report = _slow(args).get(f"/v1/instances/{args.instance}/estate", probe=probe)
    if args.json:
        emit(report, as_json=True)
    else:
        print(render_estate(report))
    return 0


def _adopt(args: argparse.Namespace) -> int:
    body = {
        "ca": args.ca,
        "names": args.names,
        "all": args.all,
        "kind": args.kind,
        "protocols": args.protocol,
        "finding": args.finding,
    }
    result = _slow(args).post(f"/v1/instances/{args.instance}/adopt", body)
    if args.json:
        emit(result, as_json=True)
        return 0
    rows = [
        ["adopted", r["kind"], r["name"], r["job_id"], r.get("keystore", "")]
        for r in result["adopted"]
    ]
    rows += [["already managed", r["kind"], r["name"], r["job_id"], ""] for r in result["already"]]
    rows += [["skipped", r["kind"], r["name"], "", r["reason"]] for r in result["skipped"]]
    print(table(rows, ["outcome", "kind", "name", "job", "keystore / reason"]))
    return 0


def _line(progress: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in sorted(progress["counts"].items()))
    return f"migration {progress['batch']}: {progress['done']}/{progress['total']} done ({counts})"


def _migrate(args: argparse.Namespace) -> int:
    api = gateway(args)
    path = f"/v1/instances/{args.instance}/migrations"
    batch = args.batch
    if (args.go_on or args.stop) and batch is None:
        raise CliError(
            EXIT_USAGE, "UsageError", "--continue and --stop need --batch", "add --batch ID"
        )
    if batch is not None and args.go_on:
        api.post(f"{path}/{batch}/continue", {})
    elif batch is not None and args.stop:
        api.post(f"{path}/{batch}/stop", {"reason": args.reason})
    elif batch is None:
        body = {
            "ca": args.ca,
            "jobs": args.job,
            "finding": args.finding,
            "all": args.all,
            "reason": args.reason,
            "wave_size": args.wave_size,
        }
        started = api.post(path, body)
        batch = started["batch"]
        if args.json and not args.wait:
            emit(started, as_json=True)
            return 0
        for row in started["skipped"]:
            print(f"skipped {row['target']} ({row['job_id']}): {row['reason']}", file=sys.stderr)
        if not (started["started"] or started["queued"]):
            print("nothing to migrate: no managed certificate matched", file=sys.stderr)
            return 0
    while True:
        progress = api.get(f"{path}/{batch}")
        if not args.json:
            print(_line(progress), flush=True)
        if not args.wait or progress["done"] >= progress["total"] or progress["halted"]:
            break
        time.sleep(args.every)
    if args.json:
        emit(progress, as_json=True)
    else:
        rows = [
            [j["wave"], j["target"], j["renewal"], j["state"], j["stage"]] for j in progress["jobs"]
        ]
        print(table(rows, ["wave", "target", "renewal", "state", "stage"]))
        if progress["halted"]:
            print(
                f"halted: wave {progress['wave']} has a failure; look, then"
                f" `twoway migrate --instance {args.instance} --ca {progress['ca']}"
                f" --batch {batch} --continue` (or --stop)",
                file=sys.stderr,
            )
    failed = progress["counts"].get("failed", 0) + progress["counts"].get("cancelled", 0)
    return EXIT_FAILED if failed else 0
