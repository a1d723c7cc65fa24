"""When a certificate is due: renewal points and maintenance windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from workers.config.renewal import (
    RenewalSettings,
    in_windows,
    parse_renew_before,
    renewal_point,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=90)


def test_by_default_at_two_thirds_of_the_lifetime() -> None:
    assert renewal_point(START, END, None) == START + timedelta(days=60)


@pytest.mark.parametrize(
    ("rule", "point"),
    [
        ("30d", END - timedelta(days=30)),
        ("12h", END - timedelta(hours=12)),
        ("90s", END - timedelta(seconds=90)),
        ("50%", START + timedelta(days=45)),
        ("400d", START),  # never before the certificate starts
    ],
)
def test_renew_before_moves_the_point(rule: str, point: datetime) -> None:
    assert renewal_point(START, END, rule) == point


@pytest.mark.parametrize("bad", ["30", "thirty days", "0%", "100%", "-5d", "3w"])
def test_a_bad_renew_before_says_what_is_allowed(bad: str) -> None:
    with pytest.raises(ValueError, match="like '30d'"):
        parse_renew_before(bad)


def test_windows_are_utc_days_and_times() -> None:
    windows = ["Mon-Fri 01:00-05:00", "Sat,Sun 12:00-13:00"]
    monday_3am = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    monday_noon = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    sunday_noon = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
    assert in_windows(monday_3am, windows) and in_windows(sunday_noon, windows)
    assert not in_windows(monday_noon, windows)
    assert in_windows(monday_noon, [])  # no windows: any time


def test_bad_windows_are_refused_in_the_config() -> None:
    with pytest.raises(ValidationError, match="Mon-Fri 01:00-05:00"):
        RenewalSettings(windows=["weekdays at night"])
    with pytest.raises(ValidationError, match="start must come before the end"):
        RenewalSettings(windows=["daily 05:00-01:00"])
