"""The `dockyard` command: run the server and manage what it stores.

Every option can also come from a `DOCKYARD_<OPTION>` environment variable or
from a TOML file given with `--config` (flags win over the environment, which
wins over the file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from dockyard import __version__
from dockyard.cli_simulate_context import context_options, simulation_context
from dockyard.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, Settings, load_config_file

F = TypeVar("F", bound=Callable[..., Any])
SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"


def _load_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value:
        try:
            raw = load_config_file(value)
        except (OSError, ValueError) as e:
            raise click.BadParameter(f"cannot read config file {value}: {e}") from None
        section = raw.pop(ctx.info_name or "", None)
        merged = {k: v for k, v in raw.items() if not isinstance(v, dict)}
        if isinstance(section, dict):
            merged.update({k.replace("-", "_"): v for k, v in section.items()})
        ctx.default_map = {**(ctx.default_map or {}), **merged}
    return value


def address_options(command: Any) -> Any:
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
            "--account-id",
            default=DEFAULT_ACCOUNT_ID,
            envvar="DOCKYARD_ACCOUNT_ID",
            show_default=True,
            help="The default account (12-digit registry ID).",
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


def _settings(**kwargs: Any) -> Settings:
    from dockyard import clock

    fields = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in kwargs.items() if k in fields and v is not None}
    # Off by default: the flag, or DOCKYARD_CLOCK_OFFSET_SECONDS in development mode only.
    try:
        values["dev_clock_offset_seconds"] = clock.resolve_offset(
            kwargs.get("dev_clock_offset_seconds"), bool(kwargs.get("dev_accept_any_credentials"))
        )
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    return Settings(**values)


def settings_from_env() -> Settings:
    """Settings handed from `dockyard serve` to server worker processes."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        return Settings()
    data = json.loads(raw)
    data["data_dir"] = Path(data["data_dir"])
    return Settings(**data)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dockyard")
def main() -> None:
    """Dockyard: a self-hosted container registry with Amazon ECR's APIs.

    \b
    Start here:
      dockyard serve                      run the registry on 127.0.0.1:5000, data in ./data
      dockyard repo create hello-world    create a repository to push to
    """


@main.command()
@storage_options
@click.option(
    "--host", default="127.0.0.1", envvar="DOCKYARD_HOST", show_default=True, help="Address to listen on."
)
@click.option(
    "--port", default=5000, type=int, envvar="DOCKYARD_PORT", show_default=True, help="Port to listen on."
)
@click.option(
    "--workers", default=1, type=int, envvar="DOCKYARD_WORKERS", show_default=True, help="Server processes."
)
@click.option(
    "--create-on-push/--no-create-on-push",
    default=False,
    envvar="DOCKYARD_CREATE_ON_PUSH",
    show_default=True,
    help="Create a repository on its first push instead of answering NAME_UNKNOWN.",
)
@click.option(
    "--blob-mounting-default",
    type=click.Choice(["ENABLED", "DISABLED"]),
    default="ENABLED",
    envvar="DOCKYARD_BLOB_MOUNTING_DEFAULT",
    show_default=True,
    help="BLOB_MOUNTING for accounts that never set it (ECR starts with DISABLED).",
)
@address_options
@click.option(
    "--token-ttl",
    default=12 * 3600,
    type=click.IntRange(60, 30 * 24 * 3600),
    envvar="DOCKYARD_TOKEN_TTL",
    show_default=True,
    help="Lifetime in seconds of GetAuthorizationToken tokens.",
)
@click.option(
    "--dev-accept-any-credentials",
    metavar="ACCOUNT_ID",
    envvar="DOCKYARD_DEV_ACCEPT_ANY_CREDENTIALS",
    help="DEVELOPMENT ONLY: accept any (or no) credentials as the root of ACCOUNT_ID, "
    "like moto or LocalStack.",
)
@click.option(
    "--job-concurrency",
    default=2,
    type=int,
    envvar="DOCKYARD_JOB_CONCURRENCY",
    show_default=True,
    help="Background jobs run at once per server process.",
)
@click.option(
    "--job-lease-seconds",
    default=60.0,
    type=float,
    envvar="DOCKYARD_JOB_LEASE_SECONDS",
    show_default=True,
    help="How long a crashed node's job waits before another node takes it over.",
)
@click.option(
    "--upload-max-age-hours",
    default=168.0,
    type=float,
    envvar="DOCKYARD_UPLOAD_MAX_AGE_HOURS",
    show_default=True,
    help="Abandoned upload sessions older than this are purged.",
)
@click.option(
    "--lifecycle-interval-minutes",
    default=60.0,
    type=click.FloatRange(min=0, min_open=True),
    envvar="DOCKYARD_LIFECYCLE_INTERVAL_MINUTES",
    show_default=True,
    help="How often every repository's lifecycle policy is applied.",
)
@click.option(
    "--gc-interval-hours",
    default=6.0,
    type=click.FloatRange(min=0, min_open=True),
    envvar="DOCKYARD_GC_INTERVAL_HOURS",
    show_default=True,
    help="How often garbage collection runs.",
)
@click.option(
    "--gc-grace-hours",
    default=24.0,
    type=click.FloatRange(min=0),
    envvar="DOCKYARD_GC_GRACE_HOURS",
    show_default=True,
    help="Periodic garbage collection keeps links and blobs touched more recently than this.",
)
@click.option(
    "--scan-eligibility-days",
    default=0.0,
    type=click.FloatRange(min=0),
    envvar="DOCKYARD_SCAN_ELIGIBILITY_DAYS",
    show_default=True,
    help="Stop re-scanning images continuously this many days after their push (their scan "
    "status becomes SCAN_ELIGIBILITY_EXPIRED); 0 re-scans them for their lifetime.",
)
@dev_clock_option
@click.option(
    "--json-logs/--no-json-logs",
    default=False,
    envvar="DOCKYARD_JSON_LOGS",
    help="Log one JSON object per line.",
)
@click.option(
    "--log-level",
    default="info",
    envvar="DOCKYARD_LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
    show_default=True,
)
def serve(**kwargs: Any) -> None:
    """Run the registry (OCI /v2/ API) on HOST:PORT."""
    from dockyard import serving

    settings = _settings(**kwargs)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.dev_accept_any_credentials:
        click.secho(
            f"WARNING: --dev-accept-any-credentials: every request is accepted as the root of account "
            f"{settings.dev_accept_any_credentials}. Never use this outside local testing.",
            fg="yellow",
            err=True,
        )
    if settings.dev_clock_offset_seconds:
        click.secho(
            f"WARNING: development clock offset of {settings.dev_clock_offset_seconds:g} seconds: "
            "lifecycle rules and garbage collection see a shifted time. Testing only.",
            fg="yellow",
            err=True,
        )
    # Migrations and first-start setup run in a child process: the schema is current before
    # anything serves, and with several workers this supervisor never imports the application.
    import subprocess

    env = {**os.environ, SETTINGS_ENV: _settings_json(settings)}
    code = "from dockyard.cli import prepare_from_env; prepare_from_env()"
    if subprocess.run([sys.executable, "-c", code], env=env).returncode != 0:
        raise click.ClickException("startup checks failed (see above)")
    settings = dataclasses.replace(settings, migrate_on_start=False)
    os.environ[SETTINGS_ENV] = _settings_json(settings)
    _print_welcome(settings)
    # One worker: served in this process; more: forked by Granian's supervisor (dockyard/serving.py).
    serving.run(
        host=settings.host, port=settings.port, workers=settings.workers, log_level=settings.log_level
    )


def _settings_json(settings: Settings) -> str:
    return json.dumps({**dataclasses.asdict(settings), "data_dir": str(settings.data_dir.resolve())})


def prepare_from_env() -> None:
    """Entry point of the child process `dockyard serve` runs its preparation in."""
    _prepare(settings_from_env(), first_key=True)


def _prepare(settings: Settings, first_key: bool = False) -> None:
    """Migrate before workers start, so they never race on the schema.

    On an empty data dir, also create the first access key and show it, once.
    """
    from dockyard.app import running
    from dockyard.auth.identity import ROOT_USER

    async def go() -> None:
        async with running(settings) as app:
            identity = app.registry.identity
            if first_key and not settings.dev_accept_any_credentials and not await identity.has_any_key():
                key = await identity.create_key(settings.account_id, ROOT_USER)
                click.echo(
                    f"Created the first access key (root of account {settings.account_id}); "
                    "it is shown only now, keep it:\n"
                    f"AWS_ACCESS_KEY_ID={key.access_key_id}\n"
                    f"AWS_SECRET_ACCESS_KEY={key.secret_access_key}\n",
                    err=True,
                )

    asyncio.run(go())


def _print_welcome(settings: Settings) -> None:
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    addr = f"{host}:{settings.port}"
    url = f"http://{settings.host}:{settings.port}"
    click.echo(
        f"Dockyard {__version__} serving on {url} (data: {settings.data_dir})\n"
        f"  create a repository:  aws ecr create-repository --endpoint-url {url} "
        "--repository-name hello-world\n"
        f"                        (or: dockyard repo create hello-world --data-dir {settings.data_dir})\n"
        f"  log in:               aws ecr get-login-password --endpoint-url {url} | "
        f"docker login --username AWS --password-stdin {addr}\n"
        f"  push an image:        docker push {addr}/hello-world:latest  (podman: add --tls-verify=false)",
        err=True,
    )


@main.group()
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
def repo_create(name: str, tag_mutability: str, **kwargs: Any) -> None:
    """Create repository NAME (repositories must exist before a push, as in ECR)."""
    from dockyard.app import running
    from dockyard.core.errors import DomainError

    settings = _settings(**kwargs)

    async def go() -> None:
        async with running(settings) as app:
            repo = await app.registry.repositories.create(
                settings.account_id, name, tag_mutability=tag_mutability
            )
            click.echo(f"created repository {repo.name} in account {repo.account_id}")

    try:
        asyncio.run(go())
    except DomainError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)


@repo.command("list")
@storage_options
@address_options
@click.option("--bytes", "exact", is_flag=True, help="Exact byte counts instead of KiB/MiB/GiB.")
def repo_list(exact: bool, **kwargs: Any) -> None:
    """List the repositories of the account: what DescribeRepositories shows (name, URI,
    creation time, tag mutability, scan on push) and the storage each uses (the bytes of
    the blobs it holds, and the part no other repository shares)."""
    from dockyard import addresses
    from dockyard.core.usage import human_size, repository_usage

    settings = _settings(**kwargs)
    request_host = settings.public_host or "localhost:5000"

    async def go(app: Any) -> None:
        async with app.registry.db.read() as conn:
            rows = await repository_usage(conn, settings.account_id)
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
        _echo_table(table, right_from=5)

    _run(settings, go)


@repo.command("delete")
@storage_options
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even if it still has images.")
def repo_delete(name: str, force: bool, **kwargs: Any) -> None:
    """Delete repository NAME."""
    from dockyard.app import running
    from dockyard.core.errors import DomainError

    settings = _settings(**kwargs)

    async def go() -> None:
        async with running(settings) as app:
            await app.registry.repositories.delete(settings.account_id, name, force=force)
            click.echo(f"deleted repository {name}")

    try:
        asyncio.run(go())
    except DomainError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)


@repo.command("usage")
@storage_options
@click.argument("name", required=False)
@click.option("--bytes", "exact", is_flag=True, help="Exact byte counts instead of KiB/MiB/GiB.")
def repo_usage(name: str | None, exact: bool, **kwargs: Any) -> None:
    """Storage used by each repository (or NAME): images, blobs linked, their bytes, and the
    bytes no other repository shares (what deleting it would free)."""
    from dockyard.core.usage import human_size, repository_usage

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        if name is not None:
            await app.registry.repositories.get(settings.account_id, name)  # RepositoryNotFound
        async with app.registry.db.read() as conn:
            rows = await repository_usage(conn, settings.account_id, name)
        size = str if exact else human_size
        table = [("REPOSITORY", "IMAGES", "BLOBS", "BYTES", "UNIQUE BYTES")]
        table += [
            (u.repository, str(u.images), str(u.blobs), size(u.bytes), size(u.unique_bytes)) for u in rows
        ]
        _echo_table(table, right_from=1)

    _run(settings, go)


def _echo_table(table: Sequence[Sequence[str]], right_from: int) -> None:
    """Columns separated by two spaces; those from ``right_from`` on (numbers) aligned right."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = [
            cell.rjust(w) if i >= right_from else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


@main.command()
@storage_options
def migrate(**kwargs: Any) -> None:
    """Bring the metadata database schema up to date."""
    settings = _settings(**kwargs)
    _prepare(settings)
    click.echo("database schema is up to date")


# -------------------------------------------------------------------- identity
@main.group()
def account() -> None:
    """Create and list accounts (registries, each with a 12-digit ID)."""


@account.command("create")
@storage_options
@click.argument("new_account_id", metavar="ACCOUNT_ID")
@click.option("--alias", help="A readable name for the account.")
def account_create(new_account_id: str, alias: str | None, **kwargs: Any) -> None:
    """Create account ACCOUNT_ID (12 digits) with its root user."""
    settings = _settings(**kwargs)
    account_id = new_account_id

    async def go(app: Any) -> None:
        await app.registry.identity.create_account(account_id, alias)
        click.echo(
            f"created account {account_id}; add a key with: dockyard key create --account-id {account_id}"
        )

    _run(settings, go)


@account.command("list")
@storage_options
def account_list(**kwargs: Any) -> None:
    """List accounts."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        for account_id, alias in await app.registry.identity.list_accounts():
            click.echo(f"{account_id}\t{alias or ''}")

    _run(settings, go)


@main.group()
def user() -> None:
    """Create and list users of an account."""


@user.command("create")
@storage_options
@click.argument("name")
def user_create(name: str, **kwargs: Any) -> None:
    """Create user NAME in the account given by --account-id."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        principal = await app.registry.identity.create_user(settings.account_id, name)
        click.echo(f"created user {principal.arn} ({principal.user_id})")

    _run(settings, go)


@user.command("list")
@storage_options
def user_list(**kwargs: Any) -> None:
    """List the users of the account given by --account-id."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        for principal in await app.registry.identity.list_users(settings.account_id):
            click.echo(f"{principal.user_name}\t{principal.arn}\t{principal.user_id}")

    _run(settings, go)


@main.group()
def key() -> None:
    """Create and delete access keys."""


@key.command("create")
@storage_options
@click.option("--user", "user_name", default="root", show_default=True, help="Whose key it is.")
@click.option("--profile", default="dockyard", show_default=True, help="Name of the printed AWS CLI profile.")
def key_create(user_name: str, profile: str, **kwargs: Any) -> None:
    """Create an access key and print it as an AWS CLI profile (shown only once)."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        created = await app.registry.identity.create_key(settings.account_id, user_name)
        click.echo(
            f"# add to ~/.aws/credentials (the secret is shown only now)\n"
            f"[{profile}]\n"
            f"aws_access_key_id = {created.access_key_id}\n"
            f"aws_secret_access_key = {created.secret_access_key}\n"
            f"region = {settings.region}"
        )

    _run(settings, go)


@key.command("delete")
@storage_options
@click.argument("access_key_id")
def key_delete(access_key_id: str, **kwargs: Any) -> None:
    """Delete an access key; requests signed with it fail from then on."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        await app.registry.identity.delete_key(access_key_id)
        click.echo(f"deleted access key {access_key_id}")

    _run(settings, go)


def _run(settings: Settings, action: Callable[[Any], Any]) -> None:
    """Run an async CLI action against the storage, turning expected failures into messages."""
    from dockyard.app import running
    from dockyard.core.errors import DomainError

    async def go() -> None:
        async with running(settings) as app:
            await action(app)

    try:
        asyncio.run(go())
    except DomainError as e:
        click.echo(f"error: {e.message}", err=True)
        sys.exit(1)


# -------------------------------------------------------------------- jobs
@main.group()
def jobs() -> None:
    """Inspect the background job queue."""


@jobs.command("list")
@storage_options
@click.option("--status", type=click.Choice(["queued", "running", "done", "failed"]))
@click.option("--limit", default=50, show_default=True)
def jobs_list(status: str | None, limit: int, **kwargs: Any) -> None:
    """List recent jobs, newest first."""
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        for job in await app.registry.jobs.list(status, limit):
            error = f"  error: {job.last_error}" if job.last_error else ""
            click.echo(
                f"{job.id}\t{job.kind}\t{job.status}\tattempts={job.attempts}\t{json.dumps(job.result)}{error}"
            )

    _run(settings, go)


@main.command()
@storage_options
@click.option(
    "--background", is_flag=True, help="Queue the scrub for a running server instead of running it here."
)
@click.option("--max-mib-per-second", type=float, default=0, help="Pace the reads (0: as fast as possible).")
def scrub(background: bool, max_mib_per_second: float, **kwargs: Any) -> None:
    """Re-hash every stored blob and report any whose bytes do not match their digest."""
    from dockyard.features.maintenance import jobs as maintenance

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        if background:
            payload = {"max_mib_per_second": max_mib_per_second}
            job_id = await app.registry.jobs.enqueue(maintenance.SCRUB, payload, unique_key="scrub")
            click.echo(f"queued scrub job {job_id}" if job_id else "a scrub is already queued or running")
            return
        result = await maintenance.scrub(app.registry, {"max_mib_per_second": max_mib_per_second})
        click.echo(f"checked {result['checked']} blobs; {len(result['corrupt'])} corrupt")
        for digest in result["corrupt"]:
            click.echo(f"CORRUPT {digest}")
        if result["corrupt"]:
            sys.exit(2)

    _run(settings, go)


@main.command()
@storage_options
def check(**kwargs: Any) -> None:
    """Check the configuration: database reachable and migrated, blob store reachable and writable."""
    from dockyard.app import DockyardApp

    settings = _settings(**kwargs)

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


def _redact(url: str) -> str:
    """Hide a password in a URL before printing it."""
    import re

    return re.sub(r"(://[^:/@]+:)[^@]+@", r"\1***@", url)


# -------------------------------------------------------------------- iam
MANAGED_SHORT_NAMES = {
    "ReadOnly": "AmazonEC2ContainerRegistryReadOnly",
    "PowerUser": "AmazonEC2ContainerRegistryPowerUser",
    "FullAccess": "AmazonEC2ContainerRegistryFullAccess",
}


@main.group()
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


async def _policy_owner(
    app: Any, account_id: str, user_name: str | None, group_name: str | None
) -> tuple[Any, Any, Any, str]:
    """(policy table, its owner column, the owner's id, a label) for --user or --group."""
    from dockyard.auth import groups
    from dockyard.store.meta import tables as t

    if group_name:
        gid = await groups.group_id(app.registry.db, account_id, group_name)
        p = t.iam_group_policies
        return p, p.c.group_id, gid, f"group {group_name}"
    user = await app.registry.identity.get_user(account_id, str(user_name))
    return t.user_policies, t.user_policies.c.user_id, user.user_id, user.arn


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
    **kwargs: Any,
) -> None:
    """Attach (or replace) a policy of a user or group in the account given by --account-id."""
    from dockyard.auth.policy import MANAGED_POLICIES, PolicyError, parse_policy

    settings = _settings(**kwargs)
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

    async def go(app: Any) -> None:
        p, owner, owner_id, label = await _policy_owner(app, settings.account_id, user_name, group_name)
        async with app.registry.db.write() as conn:
            await conn.execute(p.delete().where(owner == owner_id, p.c.name == policy_name))
            await conn.execute(
                p.insert().values({owner.name: owner_id, "name": policy_name, "document": text})
            )
        click.echo(f"attached {policy_name} to {label}")

    _run(settings, go)


@iam.command("detach-policy")
@storage_options
@_who_options
@click.option("--managed", type=click.Choice(sorted(MANAGED_SHORT_NAMES)))
@click.option("--name", help="The policy's name.")
def iam_detach_policy(
    user_name: str | None, group_name: str | None, managed: str | None, name: str | None, **kwargs: Any
) -> None:
    """Detach a policy from a user or group."""
    settings = _settings(**kwargs)
    _one_of(user_name, group_name)
    policy_name = _policy_name(managed, name)

    async def go(app: Any) -> None:
        p, owner, owner_id, label = await _policy_owner(app, settings.account_id, user_name, group_name)
        async with app.registry.db.write() as conn:
            result = await conn.execute(p.delete().where(owner == owner_id, p.c.name == policy_name))
        if result.rowcount == 0:
            click.echo(f"error: {label} has no policy named {policy_name}", err=True)
            sys.exit(1)
        click.echo(f"detached {policy_name} from {label}")

    _run(settings, go)


@iam.command("list-policies")
@storage_options
@_who_options
def iam_list_policies(user_name: str | None, group_name: str | None, **kwargs: Any) -> None:
    """List the policies attached to a user or group (a user's groups' policies are not listed)."""
    import sqlalchemy as sa

    settings = _settings(**kwargs)
    _one_of(user_name, group_name)

    async def go(app: Any) -> None:
        p, owner, owner_id, _label = await _policy_owner(app, settings.account_id, user_name, group_name)
        async with app.registry.db.read() as conn:
            rows = await conn.execute(sa.select(p.c.name).where(owner == owner_id).order_by(p.c.name))
            for row in rows:
                click.echo(row.name)

    _run(settings, go)


@iam.command("create-group")
@storage_options
@click.argument("name")
def iam_create_group(name: str, **kwargs: Any) -> None:
    """Create an IAM group in the account given by --account-id."""
    from dockyard.auth import groups

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        await groups.create_group(app.registry.db, settings.account_id, name)
        click.echo(f"created group {name} in account {settings.account_id}")

    _run(settings, go)


async def _user_and_group(app: Any, account_id: str, user_name: str, group_name: str) -> tuple[Any, Any]:
    """The user and the group id a membership command names (either missing is an error)."""
    from dockyard.auth import groups

    user = await app.registry.identity.get_user(account_id, user_name)
    return user, await groups.group_id(app.registry.db, account_id, group_name)


@iam.command("add-user-to-group")
@storage_options
@click.option("--group", "group_name", required=True)
@click.option("--user", "user_name", required=True)
def iam_add_user_to_group(group_name: str, user_name: str, **kwargs: Any) -> None:
    """Make a user a member of a group (both of --account-id)."""
    from dockyard.auth import groups

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        user, gid = await _user_and_group(app, settings.account_id, user_name, group_name)
        if await groups.add_member(app.registry.db, gid, user.user_id):
            click.echo(f"added {user.arn} to group {group_name}")
        else:
            click.echo(f"{user.arn} already is a member of group {group_name}")

    _run(settings, go)


@iam.command("remove-user-from-group")
@storage_options
@click.option("--group", "group_name", required=True)
@click.option("--user", "user_name", required=True)
def iam_remove_user_from_group(group_name: str, user_name: str, **kwargs: Any) -> None:
    """Remove a user from a group."""
    from dockyard.auth import groups

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        user, gid = await _user_and_group(app, settings.account_id, user_name, group_name)
        if not await groups.remove_member(app.registry.db, gid, user.user_id):
            click.echo(f"error: {user.arn} is not a member of group {group_name}", err=True)
            sys.exit(1)
        click.echo(f"removed {user.arn} from group {group_name}")

    _run(settings, go)


@iam.command("list-groups")
@storage_options
@click.option("--user", "user_name", help="Only the groups this user belongs to.")
def iam_list_groups(user_name: str | None, **kwargs: Any) -> None:
    """List the account's groups."""
    from dockyard.auth import groups

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        user_id = None
        if user_name:
            user_id = (await app.registry.identity.get_user(settings.account_id, user_name)).user_id
        for name in await groups.list_groups(app.registry.db, settings.account_id, user_id):
            click.echo(name)

    _run(settings, go)


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
    **kwargs: Any,
) -> None:
    """Decide whether the user may do ACTION on RESOURCE, with the deciding statement."""
    from dockyard.addresses import parse_repository_arn
    from dockyard.auth.authorizer import Authorizer

    if anonymous == bool(user_name):
        raise click.UsageError("give the caller with --user, or --anonymous for an unsigned request")
    context = simulation_context(context_pairs, source_ip, secure_transport, tag_pairs)
    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        user = None if anonymous else await app.registry.identity.get_user(settings.account_id, user_name)
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

    _run(settings, go)


# -------------------------------------------------------------------- lifecycle
@main.group()
def lifecycle() -> None:
    """Apply repositories' lifecycle policies."""


@lifecycle.command("run")
@storage_options
@click.argument("name", metavar="[REPO]", required=False)
@click.option(
    "--repo", "repo_option", metavar="NAME", help="Only this repository (default: every one with a policy)."
)
@dev_clock_option
def lifecycle_run(name: str | None, repo_option: str | None, **kwargs: Any) -> None:
    """Apply lifecycle policies now: REPO's, or those of every repository of the account that
    has one. Prints each image expired or archived with the priority of the rule responsible."""
    import sqlalchemy as sa

    from dockyard.features.lifecycle import runs as lifecycle_runs
    from dockyard.store.meta import tables as t

    settings = _settings(**kwargs)
    if name and repo_option and name != repo_option:
        raise click.UsageError("give the repository either as REPO or with --repo, not two different ones")
    only = repo_option or name

    async def go(app: Any) -> None:
        if only:
            repo = await app.registry.repositories.get(settings.account_id, only)
            ids = [repo.id]
        else:
            r = t.repositories
            async with app.registry.db.read() as conn:
                ids = list(
                    (
                        await conn.execute(
                            sa.select(r.c.id)
                            .where(r.c.account_id == settings.account_id, r.c.lifecycle_policy.is_not(None))
                            .order_by(r.c.name)
                        )
                    ).scalars()
                )
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

    _run(settings, go)


# -------------------------------------------------------------------- garbage collection
@main.command("gc")
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
def gc_command(dry_run: bool, grace_hours: float, **kwargs: Any) -> None:
    """Remove unreferenced repository links and unlinked blobs (safe while the server runs)."""
    from dockyard.features.gc import collector as gc

    settings = _settings(**kwargs)

    async def go(app: Any) -> None:
        report = await gc.collect(
            app.registry, grace_hours=grace_hours, dry_run=dry_run, progress=lambda line: click.echo(line)
        )
        verb = "would remove" if dry_run else "removed"
        click.echo(
            f"{verb} {report.links_removed} links and {report.blobs_removed} blobs "
            f"({report.bytes_freed} bytes)"
        )

    _run(settings, go)


main.add_command(__import__("dockyard.cli_vulndb", fromlist=["vulndb"]).vulndb)  # dockyard vulndb
main.add_command(__import__("dockyard.cli_scan", fromlist=["scan"]).scan)  # dockyard scan
main.add_command(__import__("dockyard.cli_scan", fromlist=["sbom"]).sbom)  # dockyard sbom
