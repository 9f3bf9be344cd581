"""`dockyard account`, `dockyard user` and `dockyard key`: the accounts, their users and access keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dockyard.cli.common import command_settings, run_with_app, storage_options

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


@click.group()
def account() -> None:
    """Create and list accounts (registries, each with a 12-digit ID)."""


@account.command("create")
@storage_options
@click.argument("new_account_id", metavar="ACCOUNT_ID")
@click.option("--alias", help="A readable name for the account.")
def account_create(new_account_id: str, alias: str | None, **kwargs: object) -> None:
    """Create account ACCOUNT_ID (12 digits) with its root user."""
    settings = command_settings(**kwargs)
    account_id = new_account_id

    async def go(app: DockyardApp) -> None:
        await app.registry.identity.create_account(account_id, alias)
        click.echo(
            f"created account {account_id}; add a key with: dockyard key create --account-id {account_id}"
        )

    run_with_app(settings, go)


@account.command("list")
@storage_options
def account_list(**kwargs: object) -> None:
    """List accounts."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        for account_id, alias in await app.registry.identity.list_accounts():
            click.echo(f"{account_id}\t{alias or ''}")

    run_with_app(settings, go)


@click.group()
def user() -> None:
    """Create and list users of an account."""


@user.command("create")
@storage_options
@click.argument("name")
def user_create(name: str, **kwargs: object) -> None:
    """Create user NAME in the account given by --account-id."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        principal = await app.registry.identity.create_user(settings.account_id, name)
        click.echo(f"created user {principal.arn} ({principal.user_id})")

    run_with_app(settings, go, in_account=True)


@user.command("list")
@storage_options
def user_list(**kwargs: object) -> None:
    """List the users of the account given by --account-id."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        for principal in await app.registry.identity.list_users(settings.account_id):
            click.echo(f"{principal.user_name}\t{principal.arn}\t{principal.user_id}")

    run_with_app(settings, go, in_account=True)


@click.group()
def key() -> None:
    """Create, list and delete access keys.

    \b
    Lost the root key? On the server's storage, `dockyard key create` makes a new one for the
    root of --account-id (the default account unless given); `key list` and `key delete` the old.
    """


@key.command("create")
@storage_options
@click.option("--user", "user_name", default="root", show_default=True, help="Whose key it is.")
@click.option("--profile", default="dockyard", show_default=True, help="Name of the printed AWS CLI profile.")
def key_create(user_name: str, profile: str, **kwargs: object) -> None:
    """Create an access key and print it as an AWS CLI profile (shown only once)."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        created = await app.registry.identity.create_key(settings.account_id, user_name)
        click.echo(
            f"# add to ~/.aws/credentials (the secret is shown only now)\n"
            f"[{profile}]\n"
            f"aws_access_key_id = {created.access_key_id}\n"
            f"aws_secret_access_key = {created.secret_access_key}\n"
            f"region = {settings.region}"
        )

    run_with_app(settings, go, in_account=True)


@key.command("list")
@storage_options
@click.option("--user", "user_name", help="Only this user's keys.")
def key_list(user_name: str | None, **kwargs: object) -> None:
    """List the access keys of the account given by --account-id (never their secrets)."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        for k in await app.registry.identity.list_keys(settings.account_id, user_name):
            created = k.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            click.echo(f"{k.access_key_id}\t{k.user_name}\t{k.status}\t{created}")

    run_with_app(settings, go)


@key.command("delete")
@storage_options
@click.argument("access_key_id")
def key_delete(access_key_id: str, **kwargs: object) -> None:
    """Delete an access key; requests signed with it fail from then on."""
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        await app.registry.identity.delete_key(access_key_id)
        click.echo(f"deleted access key {access_key_id}")

    run_with_app(settings, go)
