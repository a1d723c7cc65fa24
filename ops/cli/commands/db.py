"""``twoway db``: the store's schema revision, upgrades, and new revisions for developers."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ops.cli.output import emit

__all__ = ["register"]


def register(sub: Any) -> None:
    db = sub.add_parser(
        "db", help="(local: opens the store) the store's schema: revision, upgrade, new revision"
    )
    commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    current = commands.add_parser("current", help="the store's revision and the newest one")
    current.add_argument("--json", action="store_true")
    current.set_defaults(run=_current)

    upgrade = commands.add_parser(
        "upgrade", help="migrate the store to the newest revision (every process does at start)"
    )
    upgrade.add_argument("--json", action="store_true")
    upgrade.set_defaults(run=_upgrade)

    revision = commands.add_parser(
        "revision", help="write a revision with what workers/store/schema.py adds (developers)"
    )
    revision.add_argument("-m", "--message", required=True, help="what the revision does")
    revision.set_defaults(run=_revision)


def _url() -> str:
    from workers.config import Settings
    from workers.store.engine import normalise_url

    settings = Settings.from_environment()
    if settings.database_url is None:  # the default SQLite file lives in the state dir
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return normalise_url(settings.store_url())


@contextmanager
def _reaching(url: str) -> Iterator[None]:
    from sqlalchemy.exc import OperationalError

    from workers.errors import ConfigError
    from workers.logs import redact_text

    try:
        yield
    except OperationalError as exc:
        raise ConfigError(
            f"cannot reach the store {redact_text(url)}: {redact_text(str(exc.orig))}",
            hint="check TWOWAY_DATABASE_URL (or TWOWAY_STATE_DIR for the default SQLite file)",
        ) from exc


def _current(args: argparse.Namespace) -> int:
    from workers.store.engine import make_engines
    from workers.store.migrate import current_revision, head_revision

    url = _url()
    engine = make_engines(url)[0]
    try:
        with _reaching(url), engine.connect() as conn:
            current = current_revision(conn)
    finally:
        engine.dispose()
    answer = {"current": current, "head": head_revision(), "up_to_date": current == head_revision()}
    if args.json:
        emit(answer, as_json=True)
    else:
        state = "up to date" if answer["up_to_date"] else "behind: run 'twoway db upgrade'"
        print(f"store at revision {current or '(none)'}, newest {head_revision()}: {state}")
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    from workers.store.engine import make_engines
    from workers.store.migrate import upgrade

    url = _url()
    engine = make_engines(url)[1]
    try:
        with _reaching(url):
            revision = upgrade(engine)
    finally:
        engine.dispose()
    if args.json:
        emit({"revision": revision}, as_json=True)
    else:
        print(f"store at revision {revision}")
    return 0


def _revision(args: argparse.Namespace) -> int:
    from workers.store.engine import make_engines
    from workers.store.migrate import new_revision

    with tempfile.TemporaryDirectory(prefix="twoway-revision-") as scratch:
        engine = make_engines(f"sqlite:///{Path(scratch) / 'scratch.sqlite3'}")[1]
        try:
            path = new_revision(engine, args.message)
        finally:
            engine.dispose()
    print(f"wrote {path}: read it, and check it against PostgreSQL too")
    return 0
