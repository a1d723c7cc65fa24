"""When a certificate is renewed: its renewal point, and the maintenance windows.

By default a certificate is renewed at two thirds of its lifetime (as cert-manager
does). A CA profile's ``renew_before`` moves that point: a duration before notAfter
("30d", "12h", "45m", "90s") or a share of the lifetime before notAfter ("33%").
Maintenance windows (UTC) limit when renewals may start: "daily 01:00-05:00",
"Mon-Fri 22:00-23:30", "Sat,Sun 00:00-23:59". No windows: any time.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "RenewBefore",
    "RenewalSettings",
    "in_windows",
    "parse_renew_before",
    "parse_window",
    "renewal_point",
]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_SHARE = re.compile(r"^(\d+(?:\.\d+)?)%$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WINDOW = re.compile(r"^(\S+)\s+(\d\d):(\d\d)-(\d\d):(\d\d)$")


def parse_renew_before(text: str) -> timedelta | float:
    """A duration before notAfter, or a share (0..1) of the lifetime before notAfter."""
    if match := _DURATION.fullmatch(text.strip()):
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    if (match := _SHARE.fullmatch(text.strip())) and 0 < float(match[1]) < 100:
        return float(match[1]) / 100
    raise ValueError(
        f"renew_before {text!r} must be a duration like '30d', '12h', '45m', '90s'"
        " or a share of the lifetime like '33%' (between 0 and 100)"
    )


def _checked(text: str) -> str:
    parse_renew_before(text)
    return text


RenewBefore = Annotated[str, AfterValidator(_checked)]


def renewal_point(not_before: datetime, not_after: datetime, renew_before: str | None) -> datetime:
    lifetime = not_after - not_before
    if renew_before is None:
        return not_before + lifetime * 2 / 3
    rule = parse_renew_before(renew_before)
    before = rule if isinstance(rule, timedelta) else lifetime * rule
    return max(not_before, not_after - before)


def _days(spec: str) -> set[int]:
    if spec.lower() == "daily":
        return set(range(7))
    days: set[int] = set()
    for part in spec.lower().split(","):
        first, _, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError(f"{spec!r}: days are 'daily' or like 'Mon-Fri', 'Sat,Sun'")
        start, end = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(end + 1)])
    return days


def parse_window(text: str) -> tuple[set[int], time, time]:
    match = _WINDOW.fullmatch(text.strip())
    if not match:
        raise ValueError(f"window {text!r} must look like 'Mon-Fri 01:00-05:00' (UTC)")
    start, end = time(int(match[2]), int(match[3])), time(int(match[4]), int(match[5]))
    if start >= end:
        raise ValueError(f"window {text!r}: the start must come before the end (UTC)")
    return _days(match[1]), start, end


def _window(text: str) -> str:
    parse_window(text)
    return text


def in_windows(now: datetime, windows: list[str]) -> bool:
    if not windows:
        return True
    for days, start, end in map(parse_window, windows):
        if now.weekday() in days and start <= now.time().replace(tzinfo=None) <= end:
            return True
    return False


class RenewalSettings(BaseModel):
    """``[renewal]`` in pipeline.toml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # How long a replaced keystore record stays (inactive) before it is deleted.
    grace_period_days: Annotated[float, Field(ge=0, le=365)] = 7
    windows: list[Annotated[str, AfterValidator(_window)]] = []
    check_every_s: Annotated[float, Field(gt=0, le=86400)] = 300
    # After a failed renewal, how long before the scheduler tries again.
    retry_failed_after_h: Annotated[float, Field(ge=0, le=720)] = 6
