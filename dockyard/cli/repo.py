"""`dockyard repo`: create, list and delete repositories, and show the storage they use."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dockyard.cli.common import address_options, command_settings, echo_table, run_with_app, storage_options

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


@click.group()
def repo() -> None:
    """Create, list and delete repositories."""


@repo.command("create")
@storage_options
@click.argument("name")
@click.option(
    "--tag-mutability",
    type=click.Choice(["MUTABLE", "IMMUTABLE"]),
    default="MUTABLE",
    show_default=True,
)
def repo_create(name: str, tag_mutability: str, **kwargs: object) -> None:
    """Create repository NAME (repositories must exist before a push, as in ECR)."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        repo = await app.registry.repositories.create(
            settings.account_id, name, tag_mutability=tag_mutability
        )
        click.echo(f"created repository {repo.name} in account {repo.account_id}")

    run_with_app(settings, go, in_account=True)


@repo.command("list")
@storage_options
@address_options
@click.option("--bytes", "exact", is_flag=True, help="Exact byte counts instead of KiB/MiB/GiB.")
def repo_list(exact: bool, **kwargs: object) -> None:
    """List the repositories of the account: what DescribeRepositories shows (name, URI,
    creation time, tag mutability, scan on push) and the storage each uses (the bytes of
    the blobs it holds, and the part no other repository shares)."""
    from dockyard import addresses
    from dockyard.core.usage import account_usage, human_size

    settings = command_settings(**kwargs)
    request_host = addresses.local_address(settings)

    async def go(app: DockyardApp) -> None:
        rows = await account_usage(app.registry.db, settings.account_id)
        size = str if exact else human_size
        table = [("REPOSITORY", "URI", "CREATED", "MUTABILITY", "SCAN-ON-PUSH", "IMAGES", "BYTES", "UNIQUE")]
        table += [
            (
                u.repository,
                addresses.repository_uri(settings, settings.account_id, u.repository, request_host),
                u.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if u.created_at else "-",
                u.tag_mutability,
                "yes" if u.scan_on_push else "no",
                str(u.images),
                size(u.bytes),
                size(u.unique_bytes),
            )
            for u in rows
        ]
        echo_table(table, right_from=5)

    run_with_app(settings, go)


@repo.command("delete")
@storage_options
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even if it still has images.")
def repo_delete(name: str, force: bool, **kwargs: object) -> None:
    """Delete repository NAME."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        await app.registry.repositories.delete(settings.account_id, name, force=force)
        click.echo(f"deleted repository {name}")

    run_with_app(settings, go)


@repo.command("usage")
@storage_options
@click.argument("name", required=False)
@click.option("--bytes", "exact", is_flag=True, help="Exact byte counts instead of KiB/MiB/GiB.")
def repo_usage(name: str | None, exact: bool, **kwargs: object) -> None:
    """Storage used by each repository (or NAME): images, blobs linked, their bytes, and the
    bytes no other repository shares (what deleting it would free)."""
    from dockyard.core.usage import account_usage, human_size

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        if name is not None:
            await app.registry.repositories.get(settings.account_id, name)  # RepositoryNotFound
        rows = await account_usage(app.registry.db, settings.account_id, name)
        size = str if exact else human_size
        table = [("REPOSITORY", "IMAGES", "BLOBS", "BYTES", "UNIQUE BYTES")]
        table += [
            (u.repository, str(u.images), str(u.blobs), size(u.bytes), size(u.unique_bytes)) for u in rows
        ]
        echo_table(table, right_from=1)

    run_with_app(settings, go)
