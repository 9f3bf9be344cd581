"""The composition root gathers the features' jobs and periodic tasks: the same kinds and
intervals the server has always run."""

from __future__ import annotations

from pathlib import Path

from dockyard.config import Settings
from dockyard.registry import Registry


def test_every_feature_job_kind_has_a_handler(tmp_path: Path) -> None:
    registry = Registry.build(Settings(data_dir=tmp_path))
    assert set(registry.job_handlers()) == {
        "purge-uploads",
        "scrub",
        "lifecycle-preview",
        "lifecycle-run",
        "lifecycle-scan",
        "gc",
        "scan-image",
        "scan-rescan",
    }


def test_periodic_tasks_follow_the_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        upload_max_age_hours=12,
        lifecycle_interval_minutes=5,
        gc_interval_hours=2,
        gc_grace_hours=3,
    )
    tasks = Registry.build(settings).periodic_tasks()
    assert [(p.kind, p.every_seconds, p.payload) for p in tasks] == [
        ("purge-uploads", 3600, {"max_age_hours": 12}),
        ("lifecycle-scan", 300, {}),
        ("gc", 7200, {"grace_hours": 3}),
        ("scan-rescan", 300, {}),
    ]
