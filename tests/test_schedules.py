"""The schedules file: each entry is checked on its own, so one bad entry leaves the others usable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.errors import InvalidInput
from data_pipeline.workflow.schedules import load_schedules

GOOD = {"db_conn_id": "highway", "tables": ["bss_company"], "business_context": "highway service areas"}


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "schedules.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_bad_entries_are_reported_one_by_one_and_the_rest_are_kept(tmp_path: Path) -> None:
    schedules = load_schedules(write(tmp_path, [
        {"name": "daily", "cron": "30 2 * * *", **GOOD},
        {"name": "bad_cron", "cron": "99 * * * *", **GOOD},
        {"name": "few_fields", "cron": "* * *", **GOOD},
        {"name": "extra", "cron": "@daily", "colour": "red", **GOOD},
        {"name": "no_tables", "cron": "@daily", "db_conn_id": "highway", "tables": []},
        {"name": "odd_option", "cron": "@daily", "options": {"no_such_option": 1}, **GOOD},
        {"name": "daily", "cron": "@hourly", **GOOD},
        {"name": "off", "cron": "@weekly", "enabled": False, **GOOD},
        "not an object",
        {"name": "quarterly", "cron": "@quarterly", **GOOD},
    ]))
    assert [e.name for e in schedules.entries] == ["daily", "quarterly"]
    problems = dict(p.split(": ", 1) for p in schedules.problems)
    assert list(problems) == [f"schedules.json entry {i}" for i in (1, 2, 3, 4, 5, 6, 8)]
    assert "'99 * * * *' is not a valid cron expression" in problems["schedules.json entry 1"]
    assert "out of range" in problems["schedules.json entry 1"]  # croniter's reason, not just "invalid"
    assert "5 fields" in problems["schedules.json entry 2"]
    assert problems["schedules.json entry 3"].startswith("colour: Extra inputs are not permitted")
    assert problems["schedules.json entry 4"].startswith("tables:")
    assert "unknown options: ['no_such_option']" in problems["schedules.json entry 5"]
    assert "'daily' is already entry 0" in problems["schedules.json entry 6"]
    assert "https://" not in " ".join(schedules.problems)  # one readable line each


@pytest.mark.parametrize(("content", "message"), [("{not json", "is not valid JSON"),
                                                  ('{"name": "x"}', "must hold a JSON array")])
def test_a_file_that_is_not_a_list_of_entries_is_one_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "schedules.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        load_schedules(path)


def test_no_file_means_no_schedules(tmp_path: Path) -> None:
    schedules = load_schedules(tmp_path / "absent.json")
    assert schedules.entries == [] and schedules.problems == []
