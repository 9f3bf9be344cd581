"""`dockyard fsck`: check that the database and the blob store agree (and `scrub`, its hash check).

Exit codes: 0 clean (reclaimable housekeeping may be listed), 1 problems found, 2 could not run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING

import click

from dockyard.cli.common import command_settings, dev_clock_option, storage_options

if TYPE_CHECKING:
    from dockyard.config import Settings
    from dockyard.features.fsck.report import FsckReport
    from dockyard.features.fsck.run import FsckOptions

CLEAN, PROBLEMS, COULD_NOT_RUN = 0, 1, 2


def _pace_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--max-mib-per-second",
        type=float,
        default=0,
        help="Pace the re-hashing reads (0: as fast as possible).",
    )(func)


@click.command()
@storage_options
@click.option(
    "--sample", type=click.IntRange(min=0), default=20, show_default=True, help="Blobs to re-hash, at random."
)
@click.option("--full", is_flag=True, help="Re-hash every blob (and run SQLite's full integrity check).")
@_pace_option
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Stored bytes no row names are orphans once older than this (never within an hour).",
)
@click.option(
    "--upload-max-age-hours",
    type=click.FloatRange(min=0),
    default=168.0,
    show_default=True,
    help="Upload sessions untouched for longer are stale.",
)
@click.option(
    "--repair", is_flag=True, help="Fix what is safely repairable (the report says what each fix does)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@dev_clock_option
def fsck(
    sample: int,
    full: bool,
    max_mib_per_second: float,
    grace_hours: float,
    upload_max_age_hours: float,
    repair: bool,
    as_json: bool,
    **kwargs: object,
) -> None:
    """Check the database against the blob store: blob bytes exist and hash right, every stored
    item is named by a row (or is an orphan), upload sessions hold their bytes, manifests and tags
    reference what exists. Safe while the server runs. Exit: 0 clean, 1 problems, 2 could not run."""
    from dockyard.features.fsck.run import FsckOptions

    options = FsckOptions(
        hash_sample=None if full else sample,
        max_mib_per_second=max_mib_per_second,
        grace_hours=grace_hours,
        upload_max_age_hours=upload_max_age_hours,
        repair=repair,
    )
    report = _run(command_settings(**kwargs), options)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        for line in report.text():
            click.echo(line)
    sys.exit(CLEAN if report.clean else PROBLEMS)


@click.command()
@storage_options
@click.option(
    "--background", is_flag=True, help="Queue the scrub for a running server instead of running it here."
)
@_pace_option
def scrub(background: bool, max_mib_per_second: float, **kwargs: object) -> None:
    """Re-hash every stored blob and report any whose bytes do not match their digest
    (`dockyard fsck --full`'s hash check alone). Exit: 0 clean, 1 problems, 2 could not run."""
    from dockyard.features.fsck.run import FsckOptions

    settings = command_settings(**kwargs)
    if background:
        _enqueue_scrub(settings, max_mib_per_second)
        return
    report = _run(
        settings, FsckOptions(hash_sample=None, max_mib_per_second=max_mib_per_second, only_hashes=True)
    )
    bad = [f for f in report.errors if f.kind.startswith("blob.")]
    click.echo(f"checked {report.checked.get('blobs', 0)} blobs; {len(bad)} corrupt")
    for finding in bad:
        click.echo(f"CORRUPT {finding.subject} ({finding.kind}: {finding.detail})")
    sys.exit(CLEAN if not bad else PROBLEMS)


def _enqueue_scrub(settings: Settings, max_mib_per_second: float) -> None:
    from dockyard.app import running
    from dockyard.features.maintenance import jobs as maintenance

    async def go() -> int | None:
        async with running(settings) as app:
            payload = {"max_mib_per_second": max_mib_per_second}
            return await app.registry.jobs.enqueue(maintenance.SCRUB, payload, unique_key="scrub")

    job_id = asyncio.run(go())
    click.echo(f"queued scrub job {job_id}" if job_id else "a scrub is already queued or running")


def _run(settings: Settings, options: FsckOptions) -> FsckReport:
    """Run the checks; anything that stops them is exit code 2, never a half report."""
    from dockyard.app import running
    from dockyard.features.fsck.run import fsck as run_checks

    async def go() -> FsckReport:
        async with running(settings) as app:
            return await run_checks(app.registry, options)

    try:
        return asyncio.run(go())
    except Exception as e:
        click.echo(f"fsck could not run: {type(e).__name__}: {e}", err=True)
        sys.exit(COULD_NOT_RUN)
