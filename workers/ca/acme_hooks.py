"""The challenge hook: the command that publishes a dns-01 TXT record or an http-01 file.

The command is run as ``COMMAND present NAME VALUE`` before the challenge is answered and
``COMMAND cleanup NAME VALUE`` after it is decided, as lego's exec provider does: for
dns-01 NAME is the record's FQDN (``_acme-challenge.example.com.``) and VALUE the TXT
value; for http-01 NAME is the URL the CA fetches and VALUE the key authorization it
expects there. Certbot's manual-hook variables are set too (``CERTBOT_DOMAIN``,
``CERTBOT_VALIDATION``, ``CERTBOT_TOKEN``), so its hooks work unchanged. ``present`` must
not return before the value is served.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass

from workers.errors import CaRejected, CaUnavailable

__all__ = ["Challenge", "Hook"]


@dataclass(frozen=True)
class Challenge:
    """One challenge to publish: its type, the domain, and what the CA will look for."""

    type: str
    domain: str
    name: str
    value: str
    token: str = ""


class Hook:
    def __init__(self, command: list[str], *, timeout_s: float) -> None:
        self.command = list(command)
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"Hook({self.command[0]!r})"

    def present(self, challenge: Challenge) -> None:
        self._run("present", challenge)

    def cleanup(self, challenge: Challenge) -> None:
        self._run("cleanup", challenge)

    def _run(self, action: str, challenge: Challenge) -> None:
        what = f"the {challenge.type} hook '{shlex.join(self.command)}' ({action} {challenge.name})"
        env = {
            **os.environ,
            "CERTBOT_DOMAIN": challenge.domain,
            "CERTBOT_VALIDATION": challenge.value,
            "CERTBOT_TOKEN": challenge.token,
            "TWOWAY_ACME_CHALLENGE": challenge.type,
        }
        try:
            done = subprocess.run(
                [*self.command, action, challenge.name, challenge.value],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise CaRejected(
                f"{what} cannot run: {exc.strerror}",
                hint="fix the CA profile's challenge.command, then replay stage 'wait-for-ca'",
            ) from exc
        except PermissionError as exc:
            raise CaRejected(
                f"{what} cannot run: not executable",
                hint="make the hook executable, then replay stage 'wait-for-ca'",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise CaUnavailable(
                f"{what} did not finish within {self.timeout_s:g} s",
                hint="check the hook and what it calls; the stage is retried",
            ) from exc
        if done.returncode != 0:
            said = _last_line(done.stderr) or _last_line(done.stdout) or "no output"
            raise CaUnavailable(
                f"{what} failed with exit status {done.returncode}: {said}",
                hint="fix what the hook reports; the stage is retried",
            )


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else ""
