"""A small Quartz cron reader for tests: syntax check (used by the fake server) and firing times.

The Quartz 2.3.2 subset a DolphinScheduler schedule needs: numbers, ``*``, ``?``, lists, ranges
(wrapping ones too) and ``a/n`` / ``*/n`` steps, day-of-week 1-7 with Sunday = 1, a ``*`` or numeric
year, and the day tokens ``L``, ``L-n``, ``nW``, ``LW`` (day of month), ``nL``, ``n#k`` (day of week).
``tests/dolphin/test_quartz_jvm.py`` checks this reader against Quartz's own ``CronExpression``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

_RANGES = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7)]
DayRule = Callable[[date], bool]


class QuartzError(ValueError):
    pass


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() else 0
        if step_text and step < 1:
            raise QuartzError(f"bad step in {text!r}")
        step = step or 1
        if base in ("*", ""):
            start, stop = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise QuartzError(f"bad range {base!r}")
            start, stop = int(a), int(b)
        elif base.isdigit():
            start = int(base)
            stop = high if step_text else start
        else:
            raise QuartzError(f"bad value {base!r}")
        if not (low <= start <= high and low <= stop <= high):
            raise QuartzError(f"{item!r} outside {low}-{high}")
        through = list(range(start, stop + 1)) if start <= stop else [*range(start, high + 1), *range(low, stop + 1)]
        values.update(through[::step])
    return values


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date, target: int) -> int:
    """Quartz ``nW``: the weekday nearest day ``target``, never leaving the month."""
    last = _last_day(day)
    target = min(target, last)
    weekday = date(day.year, day.month, target).weekday()
    if weekday == 5:  # Saturday
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday
        return target + 1 if target < last else target - 2
    return target


def _dom_rule(text: str) -> DayRule | None:
    if text == "L":
        return lambda d: d.day == _last_day(d)
    if text == "LW":
        return lambda d: d.day == _nearest_weekday(d, _last_day(d))
    if (m := re.fullmatch(r"L-(\d{1,2})", text)) is not None:
        offset = int(m.group(1))
        if offset > 30:
            raise QuartzError(f"bad offset {text!r}")
        return lambda d: d.day == max(1, _last_day(d) - offset)
    if (m := re.fullmatch(r"(\d{1,2})W", text)) is not None:
        target = int(m.group(1))
        if not 1 <= target <= 31:
            raise QuartzError(f"bad day {text!r}")
        return lambda d: d.day == _nearest_weekday(d, target)
    return None


def _quartz_weekday(d: date) -> int:
    return d.isoweekday() % 7 + 1


def _dow_rule(text: str) -> DayRule | None:
    if (m := re.fullmatch(r"([1-7])L", text)) is not None:
        wanted = int(m.group(1))
        return lambda d: _quartz_weekday(d) == wanted and d.day + 7 > _last_day(d)
    if (m := re.fullmatch(r"([1-7])#([1-5])", text)) is not None:
        wanted, nth = int(m.group(1)), int(m.group(2))
        return lambda d: _quartz_weekday(d) == wanted and (d.day - 1) // 7 + 1 == nth
    return None


def parse(expression: str) -> tuple[list[set[int] | None], str]:
    """Per field the value set (None for ``?`` or a day token); raises QuartzError when not valid Quartz."""
    sets, year, _ = _parse(expression)
    return sets, year


def _parse(expression: str) -> tuple[list[set[int] | None], str, DayRule]:
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise QuartzError(f"Quartz needs 6 or 7 fields, got {len(parts)}")
    year = parts[6] if len(parts) == 7 else "*"
    if year != "*" and not (year.isdigit() and 1970 <= int(year) <= 2099):
        raise QuartzError(f"bad year {year!r}")
    if (parts[3] == "?") == (parts[5] == "?"):
        raise QuartzError("exactly one of day-of-month and day-of-week must be '?'")
    sets: list[set[int] | None] = []
    rule: DayRule | None = None
    for index, (text, (low, high)) in enumerate(zip(parts[:6], _RANGES, strict=True)):
        special = _dom_rule(text) if index == 3 else _dow_rule(text) if index == 5 else None
        if special is not None:
            rule = special
            sets.append(None)
            continue
        values = None if text == "?" else _field(text, low, high)
        sets.append(values)
        if index == 3 and values is not None:
            rule = (lambda v: lambda d: d.day in v)(values)
        if index == 5 and values is not None:
            rule = (lambda v: lambda d: _quartz_weekday(d) in v)(values)
    assert rule is not None
    return sets, year, rule


def fire_times(expression: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` firing times strictly after ``after`` (second resolution, naive wall time)."""
    (sec, minute, hour, _, month, _), _, day_rule = _parse(expression)
    assert sec is not None and minute is not None and hour is not None and month is not None
    times = sorted((h, m, s) for h in hour for m in minute for s in sec)
    result: list[datetime] = []
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(366 * 30):
        if day.month in month and day_rule(day.date()):
            for h, m, s in times:
                moment = day.replace(hour=h, minute=m, second=s)
                if moment > after:
                    result.append(moment)
                    if len(result) == count:
                        return result
        day += timedelta(days=1)
    return result
