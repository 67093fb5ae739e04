"""Standard 5-field cron (and the @ presets) → DolphinScheduler's 7-field Quartz expression.

The conversion works on value sets, not on text, so the Quartz expression fires at exactly the
same times: each field is expanded, checked, and written back in Quartz syntax (Quartz counts
Sunday as 1 in the day-of-week field and needs exactly one of day-of-month/day-of-week to be ``?``).

Cron implementations disagree on what happens when both day-of-month and day-of-week are
restricted (Vixie cron ORs them unless one starts with ``*``; croniter ORs them), and Quartz can
express neither the OR nor the AND, so such expressions are rejected instead of guessed at.

The day tokens Quartz 2.3.2 shares with extended crons (croniter) pass through as Quartz tokens: in
day-of-month ``L``, ``L-n``, ``nW`` and ``LW``; in day-of-week ``nL`` / ``Ln`` (last weekday n of the
month) and ``n#k`` (k-th weekday n), renumbered for Quartz's Sunday = 1. ``?`` reads as "no specific
value" (``*``) in either day field. A wrapping range (``22-2`` hours, ``5-0`` weekdays) is expanded
through the top of the field.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from dolphin_publisher.errors import CronConversionError

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
# (name, lowest, highest, names) per 5-field position; day-of-week accepts 7 as Sunday.
_FIELDS: list[tuple[str, int, int, dict[str, int]]] = [
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
]
_MAX_DAYS = {m: (29 if m == 2 else calendar.monthrange(2001, m)[1]) for m in range(1, 13)}


def to_quartz(expression: str) -> str:
    """Convert ``expression`` or raise :class:`CronConversionError` saying why it cannot be."""
    original = expression
    text = " ".join(expression.split())
    if not text:
        raise CronConversionError("empty cron expression")
    if text.startswith("@"):
        preset = PRESETS.get(text.lower())
        if preset is None:
            raise CronConversionError(
                f"cron preset {original!r} has no DolphinScheduler equivalent "
                f"(supported: {', '.join(sorted(PRESETS))})"
            )
        text = preset
    parts = text.split(" ")
    if len(parts) != 5:
        raise CronConversionError(
            f"cron expression {original!r} has {len(parts)} fields; expected the standard 5 "
            "(minute hour day-of-month month day-of-week)"
        )
    parts[2], parts[4] = ("*" if p == "?" else p for p in (parts[2], parts[4]))
    special_dom = _special_dom(parts[2], original)
    special_dow = _special_dow(parts[4], original)
    dom_star, dow_star = parts[2] == "*", parts[4] == "*"
    if special_dom is not None or special_dow is not None:
        if not (dom_star or dow_star):
            raise CronConversionError(
                f"cron expression {original!r} restricts both day-of-month ({parts[2]}) and day-of-week "
                f"({parts[4]}); Quartz can only restrict one of them")
        minute, hour, month = (_expand(parts[i], *_FIELDS[i], original=original) for i in (0, 1, 3))
        quartz_dom, quartz_dow = (special_dom, "?") if special_dom is not None else ("?", special_dow)
        return " ".join(["0", _emit(minute, 0, 59), _emit(hour, 0, 23), str(quartz_dom), _emit(month, 1, 12),
                         str(quartz_dow), "*"])
    sets = [_expand(part, *spec, original=original) for part, spec in zip(parts, _FIELDS, strict=True)]
    minute, hour, dom, month, dow = sets
    dow = {0 if d == 7 else d for d in dow}
    if not dom_star and not dow_star:
        raise CronConversionError(
            f"cron expression {original!r} restricts both day-of-month ({parts[2]}) and day-of-week "
            f"({parts[4]}); cron ORs them but Quartz can only restrict one, so it cannot be converted "
            "with identical firing times — make one of them *"
        )
    if dow_star:
        if not any(d <= _MAX_DAYS[m] for d in dom for m in month):
            raise CronConversionError(f"cron expression {original!r} never fires (no such date)")
        quartz_dom, quartz_dow = _emit(dom, 1, 31), "?"
    else:
        quartz_dom, quartz_dow = "?", _emit({d + 1 for d in dow}, 1, 7)
    return " ".join(
        ["0", _emit(minute, 0, 59), _emit(hour, 0, 23), quartz_dom, _emit(month, 1, 12), quartz_dow, "*"]
    )


def _expand(part: str, field: str, low: int, high: int, names: dict[str, int], *, original: str) -> set[int]:
    values: set[int] = set()
    for item in part.split(","):
        if not item:
            raise CronConversionError(f"empty list item in the {field} field of {original!r}")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronConversionError(f"invalid step {step_text!r} in the {field} field of {original!r}")
            step = int(step_text)
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _value(first, field, low, high, names, original)
            stop = _value(last, field, low, high, names, original)
            if start > stop:  # wraps through the top of the field, as Quartz and croniter read it
                top = 6 if field == "day-of-week" else high
                through = [*range(start, top + 1), *range(low, stop + 1)]
                values.update(through[::step])
                continue
        else:
            start = _value(base, field, low, high, names, original)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return values


_LAST_OFFSET = re.compile(r"^L(?:-(\d{1,2}))?$")
_WEEKDAY = re.compile(r"^(\d{1,2})W$")


def _special_dom(part: str, original: str) -> str | None:
    """Quartz's own day-of-month tokens (``L``, ``L-n``, ``nW``, ``LW``), or None for a plain field."""
    text = part.upper()
    if text == "LW":
        return text
    if (match := _LAST_OFFSET.match(text)) is not None:
        if match.group(1) is not None and not 0 <= int(match.group(1)) <= 30:
            raise CronConversionError(f"offset in {part!r} out of range 0-30 in the day-of-month field of {original!r}")
        return text
    if (match := _WEEKDAY.match(text)) is not None:
        if not 1 <= int(match.group(1)) <= 31:
            raise CronConversionError(f"day {match.group(1)} out of range 1-31 in {part!r} of {original!r}")
        if int(match.group(1)) > 28:
            # Quartz (checked against 2.3.2) skips a month that has no day n, where cron takes the nearest
            # weekday of its last day: their firing times differ, so nothing is published.
            raise CronConversionError(f"{part!r} in {original!r} fires differently in Quartz: a month without day "
                                      f"{match.group(1)} is skipped there; use LW for the last weekday, or a day "
                                      "up to 28")
        return text
    if any(c in text for c in "LW#"):
        raise CronConversionError(f"invalid value {part!r} in the day-of-month field of {original!r} "
                                  "(L, L-n, nW and LW stand alone in the field)")
    return None


def _special_dow(part: str, original: str) -> str | None:
    """``nL``/``Ln`` (last weekday n) and ``n#k`` (k-th weekday n) in Quartz numbering, or None."""
    text = part.upper()
    if "#" in text:
        day, _, nth = text.partition("#")
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise CronConversionError(f"invalid week number in {part!r} in the day-of-week field of {original!r}")
        return f"{_quartz_day(day, part, original)}#{nth}"
    if len(text) > 1 and (text.endswith("L") or text.startswith("L")):
        day = text[:-1] if text.endswith("L") else text[1:]
        return f"{_quartz_day(day, part, original)}L"
    if "L" in text and text not in _DAYS:
        raise CronConversionError(f"invalid value {part!r} in the day-of-week field of {original!r} "
                                  "(nL and n#k stand alone in the field)")
    return None


def _quartz_day(text: str, part: str, original: str) -> int:
    day = _value(text, "day-of-week", 0, 7, _DAYS, original)
    return day % 7 + 1


def _value(text: str, field: str, low: int, high: int, names: dict[str, int], original: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        hint = " (L, W and # stand alone in a day field)" if any(c in text for c in "LW#?") else ""
        raise CronConversionError(f"invalid value {text!r} in the {field} field of {original!r}{hint}")
    number = int(text)
    if not low <= number <= high:
        raise CronConversionError(
            f"value {number} out of range {low}-{high} in the {field} field of {original!r}"
        )
    return number


def _emit(values: set[int], low: int, high: int) -> str:
    """Write a value set in Quartz syntax: ``*``, ``a/n`` when it is a progression to the end, or a list."""
    ordered = sorted(values)
    if ordered == list(range(low, high + 1)):
        return "*"
    if len(ordered) > 2:
        step = ordered[1] - ordered[0]
        if ordered == list(range(ordered[0], high + 1, step)) and ordered[-1] + step > high and step > 1:
            return f"{ordered[0]}/{step}"
    chunks: list[str] = []
    run = [ordered[0]]
    for value in ordered[1:]:
        if value == run[-1] + 1:
            run.append(value)
            continue
        chunks.append(_run(run))
        run = [value]
    chunks.append(_run(run))
    return ",".join(chunks)


def _run(run: list[int]) -> str:
    if len(run) >= 3:
        return f"{run[0]}-{run[-1]}"
    return ",".join(str(v) for v in run)


def dst_warnings(expression: str, timezone: str, *, start: datetime, days: int = 366) -> list[str]:
    """Runs of ``expression`` (5-field cron, wall time in ``timezone``) that hit a DST change.

    Quartz (DolphinScheduler's trigger) skips a firing whose wall time does not exist (clocks
    spring forward) and fires a repeated wall time once (clocks fall back), where cron-style
    schedulers may run late or twice. One line per transition in the ``days`` after ``start``.
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return []
    text = PRESETS.get(expression.strip().lower(), expression)
    warnings: list[str] = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for _ in range(days):
        following = day + timedelta(days=1)
        if day.replace(tzinfo=zone).utcoffset() == following.replace(tzinfo=zone).utcoffset():
            day = following
            continue
        gap, overlap = _transition_hits(text, zone, day)
        if gap is not None:
            warnings.append(f"{gap:%Y-%m-%d %H:%M} does not exist in {timezone} (clocks spring forward): "
                            "DolphinScheduler (Quartz) skips that run")
        if overlap is not None:
            warnings.append(f"{overlap:%Y-%m-%d %H:%M} happens twice in {timezone} (clocks fall back): "
                            "DolphinScheduler (Quartz) runs it once")
        day = following
    return warnings


def _transition_hits(expression: str, zone: ZoneInfo, day: datetime) -> tuple[datetime | None, datetime | None]:
    """The first firing of the day in the spring-forward gap and in the repeated hour, if any."""
    gap = overlap = None
    for minute in range(24 * 60):
        moment = day + timedelta(minutes=minute)
        try:
            if not croniter.match(expression, moment):
                continue
        except (ValueError, KeyError, TypeError):  # a token croniter does not read (LW): no warning
            return None, None
        local = moment.replace(tzinfo=zone)
        if gap is None and local.astimezone(ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None) != moment:
            gap = moment
        elif overlap is None and local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
            overlap = moment
    return gap, overlap
