"""CPU and memory of processes, from /proc (Linux): what the benchmark counts."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cpu_seconds", "peak_rss_mb", "rabbitmq_pid", "thread_cpu_seconds"]

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_cpu(path: str) -> float:
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    return _stat_cpu(f"/proc/{pid}/stat")


def thread_cpu_seconds(native_id: int) -> float:
    """CPU seconds of one thread of this process (its ``threading`` native id)."""
    return _stat_cpu(f"/proc/self/task/{native_id}/stat")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rabbitmq_pid() -> int | None:
    """The local RabbitMQ node's Erlang VM, to count the broker's share of the CPU."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"beam" in command and b"rabbit" in command:
            return int(entry.name)
    return None
