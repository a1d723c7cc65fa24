"""How fast the CLI starts: ``twoway --help`` and ``twoway status ID`` (against a running
gateway) as whole processes, the median of several runs each.

Run it: ``python -m ops.bench.startup [--runs 9] [--src DIR]``. It starts a stack on the
stub broker, makes one job, times the commands and prints the figures as JSON. ``--src``
times another checkout's ``ops`` (e.g. an older one, for a before/after comparison); the
commands get both the gateway's context and the stack's store environment, so an older
CLI that opens the store itself runs too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "time_command"]


def time_command(command: list[str], env: dict[str, str], runs: int, cwd: Path) -> dict[str, float]:
    """Wall-clock seconds of ``command`` as a process: median, min and max of ``runs``."""
    took: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=False)
        took.append(time.perf_counter() - began)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode()[-500:]}")
    return {"median_s": statistics.median(took), "min_s": min(took), "max_s": max(took)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--src", type=Path, help="a checkout whose ops/ to time")
    args = parser.parse_args(argv)

    from ops.dev.stack import Stack
    from workers.logs import configure_logging

    configure_logging(stream=sys.stderr, level="WARNING")
    with Stack() as stack:
        job, _ = stack.app.submit(stack.example_job())
        env = {
            **stack.worker_environment(),
            "TWOWAY_URL": stack.gateway.url,
            "TWOWAY_TOKEN": stack.token,
        }
        # ``-m ops`` finds ops/ in the working directory first: run where the code to time is.
        cwd = args.src.resolve() if args.src else Path(tempfile.gettempdir())
        if args.src:
            env["PYTHONPATH"] = str(cwd)
        env.pop("TWOWAY_LOG_FILE", None)
        python = [sys.executable, "-m", "ops"]
        figures = {
            "runs": args.runs,
            "src": str(args.src or Path(__file__).resolve().parents[2]),
            "help": time_command([*python, "--help"], env, args.runs, cwd),
            "status": time_command([*python, "status", job.id], env, args.runs, cwd),
            "python_startup": time_command([sys.executable, "-c", "pass"], env, args.runs, cwd),
        }
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
