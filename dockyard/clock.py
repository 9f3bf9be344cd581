"""The time lifecycle evaluation, lifecycle runs and garbage collection see.

``now()`` is the wall clock (UTC) plus an offset that is zero unless a development/test
switch sets it: ``--dev-clock-offset-seconds N`` (hidden; on ``serve``, ``lifecycle run``
and ``gc``), or the environment variable ``DOCKYARD_CLOCK_OFFSET_SECONDS``, which is only
read when the process also runs in development mode (``--dev-accept-any-credentials``).
With an offset of 40 days, an image pushed a moment ago is 40 days old to a lifecycle rule.
Never set it in production: it also makes garbage collection's grace period pass early.

Push, pull and upload times are stamped with the real time (``tables.now``), never this.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

ENV = "DOCKYARD_CLOCK_OFFSET_SECONDS"

_offset = timedelta(0)


def now() -> datetime:
    """The current time (UTC, timezone-aware), shifted by the configured offset."""
    return datetime.now(UTC) + _offset


def offset_seconds() -> float:
    return _offset.total_seconds()


def set_offset(seconds: float) -> None:
    """Shift ``now()`` by ``seconds`` (0 restores the wall clock)."""
    global _offset
    _offset = timedelta(seconds=seconds)


def resolve_offset(flag: float | None, dev_mode: bool) -> float:
    """The offset a process starts with: the flag if given, else the environment variable in
    development mode, else 0."""
    if flag is not None:
        return float(flag)
    if dev_mode:
        raw = os.environ.get(ENV, "").strip()
        if raw:
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{ENV} must be a number of seconds, not {raw!r}") from None
    return 0.0
