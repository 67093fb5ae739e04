"""A small Quartz cron reader for tests: syntax check (used by the fake server) and firing times.

Only the Quartz subset a DolphinScheduler schedule needs: numbers, ``*``, ``?``, lists, ranges and
``a/n`` / ``*/n`` steps, day-of-week 1-7 with Sunday = 1, a ``*`` or numeric year.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_RANGES = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (1, 7)]


class QuartzError(ValueError):
    pass


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step_text and (not step_text.isdigit() or step < 1):
            raise QuartzError(f"bad step in {text!r}")
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
        if not (low <= start <= high and low <= stop <= high) or start > stop:
            raise QuartzError(f"{item!r} outside {low}-{high}")
        values.update(range(start, stop + 1, step))
    return values


def parse(expression: str) -> tuple[list[set[int] | None], str]:
    """Per field the value set (None for ``?``); raises QuartzError when not valid Quartz."""
    parts = expression.split()
    if len(parts) not in (6, 7):
        raise QuartzError(f"Quartz needs 6 or 7 fields, got {len(parts)}")
    year = parts[6] if len(parts) == 7 else "*"
    if year != "*" and not (year.isdigit() and 1970 <= int(year) <= 2099):
        raise QuartzError(f"bad year {year!r}")
    if (parts[3] == "?") == (parts[5] == "?"):
        raise QuartzError("exactly one of day-of-month and day-of-week must be '?'")
    sets: list[set[int] | None] = []
    for text, (low, high) in zip(parts[:6], _RANGES, strict=True):
        sets.append(None if text == "?" else _field(text, low, high))
    return sets, year


def fire_times(expression: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` firing times strictly after ``after`` (second resolution)."""
    (sec, minute, hour, dom, month, dow), _ = parse(expression)
    assert sec is not None and minute is not None and hour is not None and month is not None
    times = sorted((h, m, s) for h in hour for m in minute for s in sec)
    result: list[datetime] = []
    day = after.replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(366 * 30):
        if day.month in month and (
            (dom is not None and day.day in dom) or (dow is not None and (day.isoweekday() % 7) + 1 in dow)
        ):
            for h, m, s in times:
                moment = day.replace(hour=h, minute=m, second=s)
                if moment > after:
                    result.append(moment)
                    if len(result) == count:
                        return result
        day += timedelta(days=1)
    return result

