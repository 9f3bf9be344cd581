"""The fault-injection suite (issue 16): real servers killed at named crash points, a full disk,
PostgreSQL killed mid-transaction, a failing S3, each followed by the consistency check.

Every scenario has a bounded form, run by `./run test` on both backends, and a full form marked
`faults_full`, left out unless the marker expression names it (`./run faults`)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "faults_full" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the full fault run: ./run faults (pytest -m faults_full tests/faults)")
    for item in items:
        if item.get_closest_marker("faults_full") is not None:
            item.add_marker(skip)
