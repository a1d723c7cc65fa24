"""The demo's by-hand callback recipe signs what the gateway checks: timestamp, job id and
body (a recipe that left the job id out was refused 401)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ops.dev.demo import _instructions
from workers.callback_signing import sign


def test_the_by_hand_recipe_signs_what_the_gateway_checks(tmp_path: Path) -> None:
    job_id, secret, ts, body = "a" * 32, "s3cret", "1700000000", '{"certificate": "x"}'
    lines = _instructions(tmp_path, f"http://gw/v1/jobs/{job_id}/ca-callback", job_id)
    recipe = next(line for line in lines if "sig=$(" in line)
    command = re.search(r"sig=\$\((.*)\)\"?$", recipe)
    assert command is not None, recipe
    env = {"ts": ts, "body": body, "SECRET": secret, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["bash", "-c", f'ts="$ts"; body="$body"; {command.group(1)}'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = sign(secret.encode(), ts, body.encode(), job_id=job_id)
    assert f"sha256={done.stdout.strip()}" == expected
