"""What the commands share: the storage and address options, their settings, and running an
action against the storage (the same database and blob store the server uses)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockyard.config import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    Settings,
    config_file_defaults,
    load_config_file,
    settings_from_options,
    unknown_name_message,
)

if TYPE_CHECKING:
    from dockyard.app import DockyardApp

F = TypeVar("F", bound=Callable[..., Any])


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        try:
            check_config_keys(load_config_file(value), ctx.find_root().command)
            defaults = config_file_defaults(value, ctx.info_name or "")
        except (OSError, ValueError) as e:
            raise click.BadParameter(f"cannot read config file {value}: {e}") from None
        ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _all_commands(command: click.Command) -> list[click.Command]:
    """``command`` and every command below it."""
    found = [command]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            found += _all_commands(sub)
    return found


def _option_names(command: click.Command) -> set[str]:
    return {p.name for p in command.params if isinstance(p, click.Option) and p.name and p.expose_value}


def check_config_keys(raw: dict[str, object], root: click.Command) -> None:
    """Refuse a config file key that is no option of any command (top level), or of its command
    (in a table named after a command), naming the closest option: a misspelt key must not be
    silently ignored. ValueError on the first one."""
    # A table applies to the commands of that name (`[create]`: every `... create`).
    commands: dict[str, set[str]] = {}
    for command in _all_commands(root):
        if command.name and not isinstance(command, click.Group):
            commands.setdefault(command.name, set()).update(_option_names(command))
    every_option = set().union(*commands.values())
    for key, value in raw.items():
        if isinstance(value, dict):
            known = commands.get(key)
            if known is None:
                raise ValueError(
                    unknown_name_message(
                        "table",
                        f"[{key}]",
                        {f"[{name}]" for name in commands},
                        hint=" (tables are named after commands)",
                    )
                )
            for option in value:
                name = option.replace("-", "_")
                if name not in known:
                    raise ValueError(unknown_name_message(f"key in [{key}]:", name, known))
        elif key not in every_option:
            raise ValueError(unknown_name_message("key", key, every_option))


# DOCKYARD_* variables that are no option's: read by the blob store, the clock, and `serve`'s
# hand-over to its workers; and the test suite's backend switch.
OTHER_ENV_VARIABLES = frozenset(
    {
        "DOCKYARD_S3_ACCESS_KEY_ID",
        "DOCKYARD_S3_SECRET_ACCESS_KEY",
        "DOCKYARD_CLOCK_OFFSET_SECONDS",
        "DOCKYARD_SETTINGS_JSON",
        "DOCKYARD_TEST_BACKEND",
        "DOCKYARD_CRASH_AT",  # dockyard/faults.py: crash points for the fault-injection tests
        "DOCKYARD_STRESS_SECONDS",  # how long tests/integration/test_gc_stress.py runs (./run faults)
    }
)


def check_environment(environ: dict[str, str], root: click.Command) -> None:
    """Refuse a `DOCKYARD_*` variable that no option reads, naming the closest one (a misspelt
    variable must not be silently ignored). click.UsageError on the first one."""
    known = set(OTHER_ENV_VARIABLES)
    for command in _all_commands(root):
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            if isinstance(envvar, str):
                known.add(envvar)
            elif envvar:
                known.update(envvar)
    for name in sorted(environ):
        if name.startswith("DOCKYARD_") and name not in known:
            raise click.UsageError(unknown_name_message("environment variable", name, known))


def address_options(command: F) -> F:
    """How repository URIs are written (serve, and the commands that print URIs)."""
    command = click.option(
        "--public-host",
        envvar="DOCKYARD_PUBLIC_HOST",
        help="host[:port] clients reach the server at (default: the address it listens on).",
    )(command)
    return click.option(
        "--uri-style",
        type=click.Choice(["host", "aws"]),
        default="host",
        envvar="DOCKYARD_URI_STYLE",
        show_default=True,
        help="repositoryUri/proxyEndpoint form: the address clients use, "
        "or AWS's <acct>.dkr.ecr.<region>.amazonaws.com.",
    )(command)


def storage_options(func: F) -> F:
    """The options every command that touches storage shares."""
    options = [
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            envvar="DOCKYARD_CONFIG",
            is_eager=True,
            expose_value=False,
            callback=_load_config,
            help="TOML file with option values (top-level keys, or a table named after the command).",
        ),
        click.option(
            "--data-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("./data"),
            envvar="DOCKYARD_DATA_DIR",
            show_default=True,
            help="Where the embedded database and blobs live.",
        ),
        click.option(
            "--database",
            envvar="DOCKYARD_DATABASE",
            help="SQLAlchemy URL of the metadata database (default: SQLite in the data dir).",
        ),
        click.option(
            "--blob-store",
            envvar="DOCKYARD_BLOB_STORE",
            help="Where blobs live: file:PATH (default: DATA_DIR/blobs).",
        ),
        click.option(
            "--min-free-mib",
            type=click.FloatRange(min=0),
            default=64.0,
            envvar="DOCKYARD_MIN_FREE_MIB",
            show_default=True,
            help="Uploads never write into the last MiB of the blob volume (kept so the database can "
            "always commit); below it they get a retryable 503 and /readyz reports not ready.",
        ),
        click.option(
            "--account-id",
            default=None,
            envvar="DOCKYARD_ACCOUNT_ID",
            help=f"The default account (12-digit registry ID), the one the plain host serves "
            f"[default: {DEFAULT_ACCOUNT_ID}; the development account with --dev-accept-any-credentials].",
        ),
        click.option(
            "--region",
            default=DEFAULT_REGION,
            envvar="DOCKYARD_REGION",
            show_default=True,
            help="Region reported by the APIs.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def dev_clock_option(func: F) -> F:
    """DEVELOPMENT/TEST ONLY, hidden: shift the clock lifecycle rules and GC see (dockyard/clock.py)."""
    return click.option(
        "--dev-clock-offset-seconds",
        type=float,
        default=None,
        hidden=True,
        help="DEVELOPMENT/TEST ONLY: add this many seconds to the time lifecycle rules and GC see.",
    )(func)


def command_settings(**options: object) -> Settings:
    """The settings a command's options give (a misused development option is a usage error)."""
    try:
        return settings_from_options(options)
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def require_registry(settings: Settings) -> None:
    """Fail with a message naming the path unless the data dir holds a registry: only `serve` and
    `migrate` create one, so a mistyped --data-dir never becomes a new, empty registry."""
    if not settings.registry_exists:
        raise click.ClickException(
            f"no registry in {settings.data_dir} (--data-dir): it does not exist or holds no "
            "dockyard.db. Check the path; `dockyard serve` or `dockyard migrate` creates a new registry."
        )


def run_with_app(
    settings: Settings, action: Callable[[DockyardApp], Awaitable[None]], *, in_account: bool = False
) -> None:
    """Run an async CLI action against the storage, turning expected failures into messages.

    ``in_account``: the action works in the account given by --account-id, which must exist (a
    typo in it must not create an account).
    """
    from dockyard.app import running
    from dockyard.auth.identity import no_such_account
    from dockyard.core.errors import DomainError

    require_registry(settings)

    async def go() -> None:
        async with running(settings, ensure_default_account=False) as app:
            if in_account and not await app.registry.identity.account_exists(settings.account_id):
                raise click.ClickException(no_such_account(settings.account_id))
            await action(app)

    try:
        asyncio.run(go())
    except DomainError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)


def prepare(settings: Settings, first_key: bool = False) -> None:
    """Migrate before workers start, so they never race on the schema (creating the registry,
    and saying so, when there is none).

    On an empty data dir, also create the first access key and show it, once.
    """
    from dockyard.app import running
    from dockyard.auth.identity import ROOT_USER

    if not settings.registry_exists:
        click.echo(f"created a new registry in {settings.data_dir}", err=True)
    if settings.uses_data_dir:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> None:
        async with running(settings) as app:
            identity = app.registry.identity
            if first_key and not settings.dev_accept_any_credentials and not await identity.has_any_key():
                key = await identity.create_key(settings.account_id, ROOT_USER)
                click.echo(
                    f"Created the first access key (root of account {settings.account_id}); "
                    "it is shown only now, keep it:\n"
                    f"AWS_ACCESS_KEY_ID={key.access_key_id}\n"
                    f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}\n"
                    "(lost it? `dockyard key create` on this data makes another)\n",
                    err=True,
                )

    asyncio.run(go())


def echo_table(table: Sequence[Sequence[str]], right_from: int) -> None:
    """Columns separated by two spaces; those from ``right_from`` on (numbers) aligned right."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = [
            cell.rjust(w) if i >= right_from else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())
