"""The wall clock behind the ``<ts>`` in output file names.

File names are stamped to the second, so a test that needs a later stamp would otherwise sleep
past a second boundary; reading the time through this module lets it move the clock instead.
"""

from __future__ import annotations

from datetime import datetime


def now() -> datetime:
    """Local wall-clock time, naive, as the ``<ts>`` of file names is written in local time."""
    return datetime.now()
