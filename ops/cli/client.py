"""The CLI's way to the gateway: where it is (the context), one HTTP call, one error type.

Where to, first found wins: ``--url``/``--token``; ``TWOWAY_URL``/``TWOWAY_TOKEN``; the
current context of the context file (``TWOWAY_CONTEXT``, default
``~/.config/twoway/context.json``, mode 0600; named contexts, :mod:`ops.cli.contexts`),
written by ``twoway login URL --token T`` and by ``twoway up``.

Every failure becomes a ``CliError`` whose ``code`` is one of the exit codes below (the
table in docs/api.md, which a test holds to these constants), with the API's ``{"error",
"message", "hint"}``. One rule, :func:`exit_code`, turns a refusal into its code: the
gateway's answers (:func:`send`), and errors raised in the CLI's own process, by the
status the gateway gives them (ops/cli/main.py). This module imports nothing heavy at
import time: ``twoway --help`` must start fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_EXPIRING",
    "EXIT_FAILED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_TIMED_OUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "CliError",
    "Context",
    "Gateway",
    "context_path",
    "exit_code",
    "read_input",
    "refusal",
    "resolve",
    "send",
    "write_context",
]

EXIT_OK = 0  # done; a job that was waited for succeeded (or is paused for a person)
EXIT_FAILED = 1  # the job failed or was cancelled
EXIT_USAGE = 2  # bad command line, input file or request (fix it and ask again)
EXIT_NOT_FOUND = 3  # no such job (or other thing)
EXIT_REFUSED = 4  # refused: a conflict, a certificate that fails its checks, no permission
EXIT_TIMED_OUT = 5  # --wait ended before the job did
EXIT_UNREACHABLE = 6  # cannot reach the gateway, or it failed (5xx)
EXIT_EXPIRING = 7  # `dead-letters list` found messages close to RabbitMQ's expiry: act now

DEFAULT_TIMEOUT_S = 30.0


class CliError(Exception):
    """What went wrong, what to do, and the exit code a script sees."""

    def __init__(self, code: int, error: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code, self.error, self.message, self.hint = code, error, message, hint

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class Context:
    url: str
    token: str


def context_path() -> Path:
    given = os.environ.get("TWOWAY_CONTEXT")
    return Path(given) if given else Path.home() / ".config" / "twoway" / "context.json"


def write_context(url: str, token: str, path: Path | None = None, *, name: str = "default") -> Path:
    """Save context ``name`` (mode 0600: it holds a token) and make it current; its path."""
    from ops.cli.contexts import save_context

    path = path or context_path()
    save_context(path, name, url, token)
    return path


def _from_file(path: Path) -> dict[str, Any]:
    """The current context of the file (empty if none)."""
    from ops.cli.contexts import read_contexts

    try:
        data = read_contexts(path)
    except (OSError, ValueError) as exc:
        raise CliError(
            EXIT_USAGE,
            "ContextInvalid",
            f"the context file {path} cannot be read as JSON",
            "write it again: twoway login URL --token TOKEN",
        ) from exc
    current = data["contexts"].get(data["current"] or "")
    return current if isinstance(current, dict) else {}


def resolve(url: str | None = None, token: str | None = None) -> Context:
    """The gateway and token to use: options, then the environment, then the context file."""
    url = url or os.environ.get("TWOWAY_URL")
    token = token or os.environ.get("TWOWAY_TOKEN")
    if not (url and token):
        saved = _from_file(context_path())
        url, token = url or saved.get("url"), token or saved.get("token")
    if not url or not token:
        raise CliError(
            EXIT_USAGE,
            "NoContext",
            "no gateway to talk to: give --url and --token, set TWOWAY_URL and TWOWAY_TOKEN,"
            f" or write {context_path()}",
            "twoway login URL --token TOKEN (twoway up writes one for its stack;"
            " twoway context list shows them)",
        )
    return Context(str(url).rstrip("/"), str(token))


# Kinds of error that mean "the request or the set-up as given is wrong: fix it", whatever
# status carries them (a body the gateway's validation refused is a 422 RequestInvalid).
_USAGE_KINDS = frozenset({"RequestInvalid", "ConfigError"})


def exit_code(status: int, error: str) -> int:
    """The exit code of a refusal: ``status`` is the gateway's HTTP status (for an error
    raised in the CLI's own process, the status the gateway would answer it with), and
    ``error`` the kind of error. 409 (a conflict), 422 (a certificate or request that
    fails its checks), 401/403 (the token) and 429 are refusals: 4."""
    if status == 400 or error in _USAGE_KINDS:
        return EXIT_USAGE  # the request as given is wrong: fix it
    if status == 404:
        return EXIT_NOT_FOUND
    if status >= 500:
        return EXIT_UNREACHABLE
    return EXIT_REFUSED


def refusal(answer: Any) -> CliError:
    """An HTTP answer of 400 or more as the CLI's error, with the API's message and hint."""
    try:
        body = answer.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    error = str(body.get("error") or f"HTTP{answer.status_code}")
    return CliError(
        exit_code(answer.status_code, error),
        error,
        str(body.get("message") or f"the gateway answered {answer.status_code}"),
        str(body.get("hint") or ""),
    )


def send(session: Any, method: str, url: str, *, timeout: float, where: str, **kwargs: Any) -> Any:
    """One HTTP call to the gateway; its answer, or a CliError (``where`` says how the
    operator named the URL, for the hint when it cannot be reached)."""
    import requests

    try:
        answer = session.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise CliError(
            EXIT_UNREACHABLE,
            "GatewayUnreachable",
            f"cannot reach the gateway at {url}: {type(exc).__name__}",
            f"is it running? check {where}",
        ) from None
    if answer.status_code >= 400:
        raise refusal(answer)
    return answer


class Gateway:
    """The job API at ``context.url``, with the context's bearer token."""

    def __init__(self, context: Context, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import requests

        self.context = context
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Bearer {context.token}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON (or bytes for a non-JSON answer); a CliError for a refusal."""
        answer = send(
            self._session,
            method,
            self.context.url + path,
            timeout=self.timeout_s,
            where="--url, TWOWAY_URL or the context file",
            **kwargs,
        )
        if answer.headers.get("content-type", "").startswith("application/json"):
            return answer.json()
        return answer.content

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **kwargs)


def read_input(name: str, *, binary: bool = False) -> Any:
    """An input file's text (``-``: stdin), or a usage error that says what is wrong."""
    import sys

    try:
        if name == "-":
            return sys.stdin.buffer.read() if binary else sys.stdin.read()
        path = Path(name)
        data = path.read_bytes()
        return data if binary else data.decode("utf-8")
    except IsADirectoryError:
        problem = "is a directory"
    except FileNotFoundError:
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except UnicodeDecodeError:
        problem = "is not UTF-8 text"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or type(exc).__name__})"
    raise CliError(EXIT_USAGE, "InputInvalid", f"{name} {problem}", "give a readable text file")
