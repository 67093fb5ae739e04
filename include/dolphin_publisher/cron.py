"""Standard 5-field cron (and the @ presets) → DolphinScheduler's 7-field Quartz expression.

The conversion works on value sets, not on text, so the Quartz expression fires at exactly the
same times: each field is expanded, checked, and written back in Quartz syntax (Quartz counts
Sunday as 1 in the day-of-week field and needs exactly one of day-of-month/day-of-week to be ``?``).

Cron implementations disagree on what happens when both day-of-month and day-of-week are
restricted (Vixie cron ORs them unless one starts with ``*``; croniter ORs them), and Quartz can
express neither the OR nor the AND, so such expressions are rejected instead of guessed at.
"""

from __future__ import annotations

import calendar

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
    sets = [_expand(part, *spec, original=original) for part, spec in zip(parts, _FIELDS, strict=True)]
    minute, hour, dom, month, dow = sets
    dow = {0 if d == 7 else d for d in dow}
    dom_star, dow_star = parts[2] == "*", parts[4] == "*"
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
            if start > stop:
                raise CronConversionError(
                    f"range {base!r} in the {field} field of {original!r} runs backwards"
                )
        else:
            start = _value(base, field, low, high, names, original)
            stop = high if step_text else start
        values.update(range(start, stop + 1, step))
    return values


def _value(text: str, field: str, low: int, high: int, names: dict[str, int], original: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        hint = " (L, W, # and ? are Quartz-only)" if any(c in text for c in "LW#?") else ""
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
