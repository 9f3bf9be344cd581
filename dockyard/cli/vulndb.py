"""`dockyard vulndb`: load the offline vulnerability database and report what it holds.

Registries without internet access import OSV `all.zip` files (or Debian tracker / Alpine secdb
JSON) fetched on a connected machine. Same storage options as every other storage command, so
the import lands in the database the server scans against; safe while the server runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dockyard.cli.common import command_settings, run_with_app, storage_options

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


@click.group()
def vulndb() -> None:
    """Manage the offline vulnerability database used by image scanning."""


@vulndb.command("import")
@storage_options
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["osv", "debian-tracker", "alpine-secdb"]),
    default="osv",
    show_default=True,
    help="osv: an all.zip, a directory of OSV JSON or one JSON file; debian-tracker: "
    "security-tracker.debian.org/tracker/data/json; alpine-secdb: secdb.alpinelinux.org/<v3.x>/<repo>.json.",
)
@click.option("--force", is_flag=True, help="Read inputs again even if identical to an earlier import.")
@click.option("--quiet", "-q", is_flag=True, help="Only print the summary.")
def vulndb_import(paths: tuple[str, ...], fmt: str, force: bool, quiet: bool, **kwargs: object) -> None:
    """Import vulnerability records from PATH... (newer `modified` replaces, withdrawn deletes)."""
    from dockyard.features.scanning.vulndb import VulnDb
    from dockyard.features.scanning.vulndb.importer import ImportError_

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        progress = None if quiet else (lambda line: click.echo(line, err=True))
        try:
            stats = await VulnDb(app.registry.db).import_paths(
                list(paths), fmt=fmt, progress=progress, force=force
            )
        except ImportError_ as e:
            raise click.ClickException(str(e)) from None
        click.echo(
            f"added {stats.added}, updated {stats.updated}, unchanged {stats.unchanged}, "
            f"withdrawn {stats.withdrawn}, skipped {stats.skipped}"
            + (f", {stats.files_unchanged} input(s) unchanged" if stats.files_unchanged else "")
        )
        if stats.sources:
            click.echo(f"sources: {', '.join(stats.sources)}")

    run_with_app(settings, go)


@vulndb.command("info")
@storage_options
def vulndb_info(**kwargs: object) -> None:
    """Show advisory counts per ecosystem, the imported sources and when they were imported."""
    from dockyard.features.scanning.vulndb import VulnDb

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        info = await VulnDb(app.registry.db).info()
        updated = info.updated_at.isoformat(timespec="seconds") if info.updated_at else "never"
        click.echo(f"advisories: {info.advisories}")
        click.echo(f"updated at: {updated}")
        if info.affected_by_ecosystem:
            click.echo("affected packages per ecosystem:")
            for eco, n in info.affected_by_ecosystem.items():
                click.echo(f"  {eco:<32} {n}")
        if info.sources:
            click.echo("sources:")
            for s in info.sources:
                when = s.imported_at.isoformat(timespec="seconds")
                click.echo(f"  {s.name:<32} {s.records:>8} records  imported {when}")

    run_with_app(settings, go)
