"""Keeping the storage in order: `dockyard migrate`, `check`, `gc` and `jobs`
(`fsck` and `scrub` are in `fsck.py`)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from dockyard.cli.common import (
    command_settings,
    dev_clock_option,
    prepare,
    require_registry,
    run_with_app,
    storage_options,
)

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


@click.command()
@storage_options
def migrate(**kwargs: object) -> None:
    """Bring the metadata database schema up to date."""
    settings = command_settings(**kwargs)
    prepare(settings)
    click.echo("database schema is up to date")


@click.group()
def jobs() -> None:
    """Inspect the background job queue."""


@jobs.command("list")
@storage_options
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed"]))
@click.option("--limit", default=50, show_default=True)
def jobs_list(status: str | None, limit: int, **kwargs: object) -> None:
    """List recent jobs, newest first."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        for job in await app.registry.jobs.list(status, limit):
            error = f"  error: {job.last_error}" if job.last_error else ""
            click.echo(
                f"{job.id}\t{job.kind}\t{job.status}\tattempts={job.attempts}\t{json.dumps(job.result)}{error}"
            )

    run_with_app(settings, go)


@click.command()
@storage_options
def check(**kwargs: object) -> None:
    """Check the configuration: database reachable and migrated, blob store reachable and writable."""
    from dockyard.app import DockyardApp

    settings = command_settings(**kwargs)
    require_registry(settings)

    async def go() -> int:
        try:
            app = DockyardApp(settings)
        except ValueError as e:
            click.echo(f"configuration: {e}", err=True)
            return 1
        try:
            await app.registry.db.migrate()
            click.echo(f"database:    ok ({_redact(settings.database_url)})")
        except Exception as e:
            click.echo(f"database:    FAILED ({type(e).__name__}: {e})", err=True)
            return 1
        problem = await app.readiness_problem()
        await app.registry.close()
        if problem:
            click.echo(f"blob store:  FAILED ({problem})", err=True)
            return 1
        click.echo(f"blob store:  ok ({_redact(settings.blob_store or str(settings.blobs_dir))})")
        return 0

    sys.exit(asyncio.run(go()))


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(first: datetime, last: datetime) -> str:
    if _when(first) == _when(last):
        return f"at {_when(first)}"
    return f"between {_when(first)} and {_when(last)}"


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    import re

    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


@click.command("gc")
@storage_options
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Keep links and blobs touched more recently than this.",
)
@dev_clock_option
def gc_command(dry_run: bool, grace_hours: float, **kwargs: object) -> None:
    """Remove unreferenced repository links, unlinked blobs, and stored bytes no row names
    (safe while the server runs)."""
    from dockyard.features.gc import collector as gc

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        # The collector reports each phase's total once (and progress within long phases).
        report = await gc.collect(
            app.registry, grace_hours=grace_hours, dry_run=dry_run, progress=lambda line: click.echo(line)
        )
        kept = report.kept
        if kept is not None and (kept.links or kept.blobs):
            assert kept.first_eligible is not None and kept.last_eligible is not None
            click.echo(
                f"kept by the {kept.grace_hours:g}-hour grace period: {kept.links} unreferenced links "
                f"and {kept.blobs} unlinked blobs (with the blobs only those links hold); they become "
                f"eligible {_span(kept.first_eligible, kept.last_eligible)} (--grace-hours sets the period)"
            )

    run_with_app(settings, go)
