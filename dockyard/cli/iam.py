"""`dockyard iam`: identity policies of users and groups, groups and their members, and
simulated authorization decisions."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from dockyard.cli.common import command_settings, run_with_app, storage_options
from dockyard.cli.simulate_context import context_options, simulation_context

if TYPE_CHECKING:
    from dockyard.app import DockyardApp
    from dockyard.auth.identity_policies import PolicyHolder
    from dockyard.auth.principals import Principal

F = TypeVar("F", bound=Callable[..., object])

MANAGED_SHORT_NAMES = {
    "ReadOnly": "AmazonEC2ContainerRegistryReadOnly",
    "PowerUser": "AmazonEC2ContainerRegistryPowerUser",
    "FullAccess": "AmazonEC2ContainerRegistryFullAccess",
}


@click.group()
def iam() -> None:
    """Attach identity policies to users and groups, manage groups, simulate authorization decisions."""


def _policy_name(managed: str | None, name: str | None) -> str:
    if managed:
        return MANAGED_SHORT_NAMES.get(managed, managed)
    if not name:
        raise click.UsageError("give --managed or --name")
    return name


def _who_options(func: F) -> F:
    """``--user`` / ``--group``: whose policies a command manages (exactly one)."""
    func = click.option("--group", "group_name", help="An IAM group (instead of --user).")(func)
    return click.option("--user", "user_name", help="A user of --account-id.")(func)


async def _policy_holder(
    app: DockyardApp, account_id: str, user_name: str | None, group_name: str | None
) -> tuple[PolicyHolder, str]:
    """Whose policies --user or --group names, and a label for messages."""
    from dockyard.auth import groups
    from dockyard.auth.identity_policies import PolicyHolder

    if group_name:
        gid = await groups.group_id(app.registry.db, account_id, group_name)
        return PolicyHolder.group(gid), f"group {group_name}"
    user = await app.registry.identity.get_user(account_id, str(user_name))
    return PolicyHolder.user(user.user_id), user.arn


def _one_of(user_name: str | None, group_name: str | None) -> None:
    if bool(user_name) == bool(group_name):
        raise click.UsageError("give exactly one of --user and --group")


@iam.command("attach-policy")
@storage_options
@_who_options
@click.option("--managed", type=click.Choice(sorted(MANAGED_SHORT_NAMES)), help="An AWS managed ECR policy.")
@click.option(
    "--policy-file", type=click.Path(exists=True, dir_okay=False), help="An identity policy (JSON)."
)
@click.option("--name", help="Name for the policy from --policy-file.")
def iam_attach_policy(
    user_name: str | None,
    group_name: str | None,
    managed: str | None,
    policy_file: str | None,
    name: str | None,
    **kwargs: object,
) -> None:
    """Attach (or replace) a policy of a user or group in the account given by --account-id."""
    from dockyard.auth import identity_policies
    from dockyard.auth.policy import MANAGED_POLICIES, PolicyError, parse_policy

    settings = command_settings(**kwargs)
    _one_of(user_name, group_name)
    if bool(managed) == bool(policy_file):
        raise click.UsageError("give exactly one of --managed and --policy-file")
    if policy_file and not name:
        raise click.UsageError("--policy-file needs --name")
    policy_name = _policy_name(managed, name)
    if managed:
        text = MANAGED_POLICIES[policy_name]
    else:
        with open(str(policy_file), encoding="utf-8") as f:
            text = f.read()
        try:
            parse_policy(text, "identity")
        except PolicyError as err:
            click.echo(f"error: {err.message}", err=True)
            sys.exit(1)

    async def go(app: DockyardApp) -> None:
        holder, label = await _policy_holder(app, settings.account_id, user_name, group_name)
        await identity_policies.attach_policy(app.registry.db, holder, policy_name, text)
        click.echo(f"attached {policy_name} to {label}")

    run_with_app(settings, go, in_account=True)


@iam.command("detach-policy")
@storage_options
@_who_options
@click.option("--managed", type=click.Choice(sorted(MANAGED_SHORT_NAMES)))
@click.option("--name", help="The policy's name.")
def iam_detach_policy(
    user_name: str | None, group_name: str | None, managed: str | None, name: str | None, **kwargs: object
) -> None:
    """Detach a policy from a user or group."""
    from dockyard.auth import identity_policies

    settings = command_settings(**kwargs)
    _one_of(user_name, group_name)
    policy_name = _policy_name(managed, name)

    async def go(app: DockyardApp) -> None:
        holder, label = await _policy_holder(app, settings.account_id, user_name, group_name)
        if not await identity_policies.detach_policy(app.registry.db, holder, policy_name):
            click.echo(f"error: {label} has no policy named {policy_name}", err=True)
            sys.exit(1)
        click.echo(f"detached {policy_name} from {label}")

    run_with_app(settings, go, in_account=True)


@iam.command("list-policies")
@storage_options
@_who_options
def iam_list_policies(user_name: str | None, group_name: str | None, **kwargs: object) -> None:
    """List the policies attached to a user or group (a user's groups' policies are not listed)."""
    from dockyard.auth import identity_policies

    settings = command_settings(**kwargs)
    _one_of(user_name, group_name)

    async def go(app: DockyardApp) -> None:
        holder, _label = await _policy_holder(app, settings.account_id, user_name, group_name)
        for name in await identity_policies.policy_names(app.registry.db, holder):
            click.echo(name)

    run_with_app(settings, go, in_account=True)


@iam.command("create-group")
@storage_options
@click.argument("name")
def iam_create_group(name: str, **kwargs: object) -> None:
    """Create an IAM group in the account given by --account-id."""
    from dockyard.auth import groups

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        await groups.create_group(app.registry.db, settings.account_id, name)
        click.echo(f"created group {name} in account {settings.account_id}")

    run_with_app(settings, go, in_account=True)


async def _user_and_group(
    app: DockyardApp, account_id: str, user_name: str, group_name: str
) -> tuple[Principal, int]:
    """The user and the group id a membership command names (either missing is an error)."""
    from dockyard.auth import groups

    user = await app.registry.identity.get_user(account_id, user_name)
    return user, await groups.group_id(app.registry.db, account_id, group_name)


@iam.command("add-user-to-group")
@storage_options
@click.option("--group", "group_name", required=True)
@click.option("--user", "user_name", required=True)
def iam_add_user_to_group(group_name: str, user_name: str, **kwargs: object) -> None:
    """Make a user a member of a group (both of --account-id)."""
    from dockyard.auth import groups

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        user, gid = await _user_and_group(app, settings.account_id, user_name, group_name)
        if await groups.add_member(app.registry.db, gid, user.user_id):
            click.echo(f"added {user.arn} to group {group_name}")
        else:
            click.echo(f"{user.arn} already is a member of group {group_name}")

    run_with_app(settings, go, in_account=True)


@iam.command("remove-user-from-group")
@storage_options
@click.option("--group", "group_name", required=True)
@click.option("--user", "user_name", required=True)
def iam_remove_user_from_group(group_name: str, user_name: str, **kwargs: object) -> None:
    """Remove a user from a group."""
    from dockyard.auth import groups

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        user, gid = await _user_and_group(app, settings.account_id, user_name, group_name)
        if not await groups.remove_member(app.registry.db, gid, user.user_id):
            click.echo(f"error: {user.arn} is not a member of group {group_name}", err=True)
            sys.exit(1)
        click.echo(f"removed {user.arn} from group {group_name}")

    run_with_app(settings, go, in_account=True)


@iam.command("list-groups")
@storage_options
@click.option("--user", "user_name", help="Only the groups this user belongs to.")
def iam_list_groups(user_name: str | None, **kwargs: object) -> None:
    """List the account's groups."""
    from dockyard.auth import groups

    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        user_id = None
        if user_name:
            user_id = (await app.registry.identity.get_user(settings.account_id, user_name)).user_id
        for name in await groups.list_groups(app.registry.db, settings.account_id, user_id):
            click.echo(name)

    run_with_app(settings, go, in_account=True)


@iam.command("simulate")
@storage_options
@click.option("--user", "user_name", help="The caller (a user of --account-id); or --anonymous.")
@click.option("--action", "iam_action", required=True, help="e.g. ecr:BatchGetImage")
@click.option("--resource", required=True, help="A repository ARN, or * for account-wide actions.")
@context_options
def iam_simulate(
    user_name: str | None,
    iam_action: str,
    resource: str,
    context_pairs: tuple[str, ...],
    source_ip: str | None,
    secure_transport: bool,
    tag_pairs: tuple[str, ...],
    anonymous: bool,
    **kwargs: object,
) -> None:
    """Decide whether the user may do ACTION on RESOURCE, with the deciding statement."""
    from dockyard.addresses import parse_repository_arn
    from dockyard.auth.authorizer import Authorizer

    if anonymous == bool(user_name):
        raise click.UsageError("give the caller with --user, or --anonymous for an unsigned request")
    context = simulation_context(context_pairs, source_ip, secure_transport, tag_pairs)
    settings = command_settings(**kwargs)

    async def go(app: DockyardApp) -> None:
        identity = app.registry.identity
        user = None if anonymous else await identity.get_user(settings.account_id, str(user_name))
        authorizer = Authorizer(app.registry.db, app.registry.account_setting_defaults)
        parsed = parse_repository_arn(resource)
        resource_account = parsed[1] if parsed else settings.account_id if user is None else user.account_id
        policy = await authorizer.repository_policy(parsed[1], parsed[2]) if parsed else None
        repository = parsed[2] if parsed else None
        decision = await authorizer.check(
            user, iam_action, resource, resource_account, policy, context, repository=repository
        )
        click.echo(decision.explain())
        if decision.statement is not None:
            click.echo(f"deciding statement: {decision.statement.label}")
        if not decision.allowed:
            sys.exit(3)

    run_with_app(settings, go, in_account=True)
