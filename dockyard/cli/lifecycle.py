"""`dockyard lifecycle run`: apply repositories' lifecycle policies now."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from dockyard.cli.common import command_settings, dev_clock_option, run_with_app, storage_options

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


@click.group()
def lifecycle() -> None:
    """Apply repositories' lifecycle policies."""


@lifecycle.command("run")
@storage_options
@click.argument("name", metavar="[REPO]", required=False)
@click.option(
    "--repo", "repo_option", metavar="NAME", help="Only this repository (default: every one with a policy)."
)
@dev_clock_option
def lifecycle_run(name: str | None, repo_option: str | None, **kwargs: object) -> None:
    """Apply lifecycle policies now: REPO's, or those of every repository of the account that
    has one. Prints each image expired or archived with the priority of the rule responsible."""
    from dockyard.features.lifecycle import runs as lifecycle_runs

    settings = command_settings(**kwargs)
    if name and repo_option and name != repo_option:
        raise click.UsageError("give the repository either as REPO or with --repo, not two different ones")
    only = repo_option or name

    async def go(app: DockyardApp) -> None:
        repositories = app.registry.repositories
        if only:
            ids = [(await repositories.get(settings.account_id, only)).id]
        else:
            ids = [repo.id for repo in await repositories.with_lifecycle_policy(settings.account_id)]
        expired = archived = 0
        for repository_id in ids:
            result = await lifecycle_runs.run_policy(app.registry, repository_id)
            if not result["policy"]:
                if only:
                    click.echo(f"error: repository {only} has no lifecycle policy", err=True)
                    sys.exit(1)
                continue
            for item in result["expired"]:
                tags = ",".join(item["tags"]) or "<untagged>"
                click.echo(f"EXPIRED {item['digest']}\t{result['repository']}\t{tags}\t(rule {item['rule']})")
            for digest in result["archived"]:
                rule = result["archived_rules"].get(digest)
                click.echo(f"ARCHIVED {digest}\t{result['repository']}\t(rule {rule})")
            for digest in result.get("skipped", []):
                click.echo(f"SKIPPED {digest}\t{result['repository']}\t(changed meanwhile; next run)")
            expired += len(result["expired"])
            archived += len(result["archived"])
        click.echo(f"{expired} images expired, {archived} archived in {len(ids)} repositories")

    run_with_app(settings, go)
