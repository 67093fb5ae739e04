"""Cron → Quartz: identical firing times (checked against croniter), clear errors otherwise."""

from __future__ import annotations

from datetime import datetime

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin_publisher.cron import to_quartz
from dolphin_publisher.errors import CronConversionError

from . import quartz

START = datetime(2025, 1, 1, 0, 0)


def cron_times(expression: str, count: int) -> list[datetime]:
    it = croniter(expression, START)
    return [it.get_next(datetime) for _ in range(count)]


def assert_same_firings(expression: str, count: int = 40) -> None:
    converted = to_quartz(expression)
    quartz.parse(converted)  # valid Quartz: 7 fields, exactly one '?'
    assert quartz.fire_times(converted, START, count) == cron_times(expression, count), converted


@pytest.mark.parametrize(("expression", "expected"), [
    ("30 2 * * *", "0 30 2 * * ? *"),
    ("@hourly", "0 0 * * * ? *"),
    ("@daily", "0 0 0 * * ? *"),
    ("@weekly", "0 0 0 ? * 1 *"),
    ("@monthly", "0 0 0 1 * ? *"),
    ("@yearly", "0 0 0 1 1 ? *"),
    ("*/15 * * * 1-5", "0 0/15 * ? * 2-6 *"),
    ("0 9 * jan,jul mon-fri", "0 0 9 ? 1,7 2-6 *"),
    ("0 0 * * 5-7", "0 0 0 ? * 1,6,7 *"),
    ("0 0 * * 7", "0 0 0 ? * 1 *"),
])
def test_known_conversions(expression: str, expected: str) -> None:
    assert to_quartz(expression) == expected


@pytest.mark.parametrize("expression", [
    "30 2 * * *", "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "*/15 * * * 1-5", "0 0 1,15 * *",
    "0 */2 * * *", "5 4 * * sun", "0 9 * jan,jul mon-fri", "0 0 * * 5-7", "0 0 * * 7", "0 12 */3 * *",
    "0 0 31 * *", "0 0 29 2 *", "10-40/10 8-18 * * *", "0 6 * * 0,6", "0 0 1 */2 *", "*/7 * * * *",
    "59 23 28-31 * *", "0 0 2/5 * *", "1,2,3,5,8,13 * * * *",
])
def test_firing_times_match_croniter(expression: str) -> None:
    rare = {"@yearly": 20, "0 0 29 2 *": 5}  # the test reader looks 30 years ahead
    assert_same_firings(expression, count=rare.get(expression, 40))


_MINUTE = st.one_of(st.just("*"), st.integers(0, 59).map(str), st.integers(1, 30).map(lambda n: f"*/{n}"),
                    st.tuples(st.integers(0, 29), st.integers(30, 59)).map(lambda t: f"{t[0]}-{t[1]}"))
_HOUR = st.one_of(st.just("*"), st.integers(0, 23).map(str), st.integers(1, 12).map(lambda n: f"*/{n}"),
                  st.lists(st.integers(0, 23), min_size=1, max_size=4, unique=True).map(
                      lambda v: ",".join(map(str, v))))
_DOM = st.one_of(st.integers(1, 28).map(str), st.integers(2, 10).map(lambda n: f"*/{n}"),
                 st.tuples(st.integers(1, 14), st.integers(15, 31)).map(lambda t: f"{t[0]}-{t[1]}"))
_DOW = st.one_of(st.integers(0, 7).map(str), st.tuples(st.integers(0, 3), st.integers(4, 7)).map(
    lambda t: f"{t[0]}-{t[1]}"), st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True).map(
    lambda v: ",".join(map(str, v))))
_MONTH = st.one_of(st.just("*"), st.integers(1, 12).map(str), st.integers(2, 6).map(lambda n: f"*/{n}"))


@settings(max_examples=60, deadline=None)
@given(minute=_MINUTE, hour=_HOUR, month=_MONTH,
       days=st.one_of(st.tuples(_DOM, st.just("*")), st.tuples(st.just("*"), _DOW), st.just(("*", "*"))))
def test_random_expressions_fire_identically(minute: str, hour: str, month: str, days: tuple[str, str]) -> None:
    assert_same_firings(f"{minute} {hour} {days[0]} {month} {days[1]}", count=15)


@pytest.mark.parametrize(("expression", "message"), [
    ("0 0 1 * 1", "restricts both day-of-month"),
    ("0 0 L,5 * *", "stand alone"),
    ("0 0 * * 5#9", "invalid week number"),
    ("0 0 L * 1", "can only restrict one"),
    ("* * * *", "has 4 fields"),
    ("0 0 0 * * ?", "has 6 fields"),
    ("@reboot", "no DolphinScheduler equivalent"),
    ("61 * * * *", "out of range 0-59"),
    ("0 0 31 2 *", "never fires"),
    ("*/0 * * * *", "invalid step"),
    ("", "empty"),
])
def test_inexpressible_expressions_are_clear_errors(expression: str, message: str) -> None:
    with pytest.raises(CronConversionError) as info:
        to_quartz(expression)
    assert message in info.value.message
