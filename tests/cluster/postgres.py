"""A PostgreSQL primary and a streaming replica, each on its own host namespace.

Debian's binaries (``/usr/lib/postgresql/<version>/bin``) run as the ``postgres`` user on
data directories of this test; the machine's own cluster (port 5432 of the machine's
namespace) is never touched: these listen on 5432 inside their own namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.cluster.netns import Host

__all__ = ["PgServer", "pg_bin"]


def pg_bin(tool: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name))
    return str(versions[-1] / "bin" / tool)


class PgServer:
    def __init__(self, host: Host, base: Path) -> None:
        self.host = host
        self.data = base / host.name / "data"
        self.log = base / host.name / "server.log"

    def _as_postgres(self, *command: str) -> None:
        full = [*self.host.exec_prefix(), "runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(full, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{command[0]}: {done.stderr or done.stdout}")

    def _own(self) -> None:
        self.data.parent.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data.parent, "postgres", "postgres")

    def init_primary(self) -> PgServer:
        self._own()
        self._as_postgres(pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '*'\n"
                f"unix_socket_directories = '{self.data.parent}'\n"
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
                "fsync = off\nshared_buffers = 32MB\n"
            )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 10.231.0.0/24 trust\n")
            hba.write("host replication all 10.231.0.0/24 trust\n")
        return self.start()

    def init_replica(self, primary: PgServer) -> PgServer:
        self._own()
        self._as_postgres(
            pg_bin("pg_basebackup"), "-h", primary.host.ip, "-U", "postgres",
            "-D", str(self.data), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"unix_socket_directories = '{self.data.parent}'\n")
        return self.start()

    def start(self) -> PgServer:
        self._as_postgres(
            pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "start"
        )
        return self

    def createdb(self, name: str) -> None:
        self._as_postgres(pg_bin("createdb"), "-h", self.host.ip, "-U", "postgres", name)

    def kill(self) -> None:
        """kill -9 of the postmaster (its backends go with it)."""
        pid = int((self.data / "postmaster.pid").read_text().split("\n")[0])
        os.kill(pid, signal.SIGKILL)

    def promote(self) -> None:
        self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-w", "promote")
