"""`dockyard serve`: prepare the storage in a child process, then run the server."""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import click

from dockyard import __version__, serving
from dockyard.cli.common import address_options, command_settings, dev_clock_option, prepare, storage_options
from dockyard.config import SETTINGS_ENV, Settings, settings_from_env, settings_to_env


class CidrList(click.ParamType):
    """CIDRs (or single addresses), comma-separated, or a list in the config file."""

    name = "CIDR,..."

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ...]:
        from dockyard.auth.request_context import TrustedProxies

        try:
            proxies = TrustedProxies.parse(value if isinstance(value, str | list | tuple) else str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)
        return tuple(str(network) for network in proxies.networks)


@click.command()
@storage_options
@click.option(
    "--host", default="127.0.0.1", envvar="DOCKYARD_HOST", show_default=True, help="Address to listen on."
)
@click.option(
    "--port", default=5000, type=int, envvar="DOCKYARD_PORT", show_default=True, help="Port to listen on."
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    envvar="DOCKYARD_TLS_CERT",
    help="Serve HTTPS with this PEM certificate chain (with --tls-key; `dockyard tls init` makes one).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False),
    envvar="DOCKYARD_TLS_KEY",
    help="The PEM private key of --tls-cert.",
)
@click.option(
    "--trusted-proxies",
    type=CidrList(),
    envvar="DOCKYARD_TRUSTED_PROXIES",
    help="Comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto (or Forwarded) "
    "headers give the client's address and scheme; from anyone else they are ignored.",
)
@click.option(
    "--served-region",
    "served_regions",
    multiple=True,
    metavar="REGION",
    envvar="DOCKYARD_SERVED_REGIONS",
    help="Also answer requests signed for REGION (repeatable; the environment variable takes a "
    "space-separated list). Default: only --region; requests signed for any other region are "
    "refused, as AWS refuses them.",
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
def serve(**kwargs: object) -> None:
    """Run the registry (OCI /v2/ API) on HOST:PORT."""
    settings = command_settings(**kwargs)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = serving.Tls(settings.tls_cert, settings.tls_key) if settings.tls_cert and settings.tls_key else None
    if tls:
        _check_tls(tls)
    _check_port(settings)
    if settings.dev_accept_any_credentials:
        click.secho(
            f"WARNING: --dev-accept-any-credentials: every request is accepted as the root of account "
            f"{settings.dev_accept_any_credentials} (the default account, served on the plain host). "
            "Never use this outside local testing.",
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

    env = {**os.environ, SETTINGS_ENV: settings_to_env(settings)}
    code = "from dockyard.cli.serve import prepare_from_env; prepare_from_env()"
    if subprocess.run([sys.executable, "-c", code], env=env).returncode != 0:
        raise click.ClickException("startup checks failed (see above)")
    settings = dataclasses.replace(settings, migrate_on_start=False)
    os.environ[SETTINGS_ENV] = settings_to_env(settings)
    _check_port(settings)  # again: preparing may have taken a while
    _print_welcome(settings)
    # One worker: served in this process; more: forked by Granian's supervisor (dockyard/serving.py).
    serving.run(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        json_logs=settings.json_logs,
        tls=tls,
    )


def _check_tls(tls: serving.Tls) -> None:
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as e:
        raise click.UsageError(f"cannot use --tls-cert {tls.cert} with --tls-key {tls.key}: {e}") from None


def _check_port(settings: Settings) -> None:
    if not serving.port_is_free(settings.host, settings.port):
        raise click.ClickException(
            f"port {settings.port} on {settings.host} is already in use (another dockyard?) "
            "— stop it or pass --port"
        )


def prepare_from_env() -> None:
    """Entry point of the child process `dockyard serve` runs its preparation in."""
    prepare(settings_from_env(), first_key=True)


def _print_welcome(settings: Settings) -> None:
    """What to type next: the README's first steps, with this server's address and region."""
    from dockyard.addresses import local_address

    addr = local_address(settings)
    scheme = "https" if settings.tls_cert else "http"
    aws = f"--endpoint-url {scheme}://{addr} --region {settings.region}"
    data = f"--data-dir {settings.data_dir}"
    click.echo(
        f"Dockyard {__version__} listening on {settings.host}:{settings.port} (data: {settings.data_dir}); "
        f"clients reach it as {addr}\n"
        f"  create a repository:  aws ecr create-repository {aws} --repository-name hello-world\n"
        f"                        (or: dockyard repo create hello-world {data})\n"
        f"  log in:               aws ecr get-login-password {aws} | "
        f"docker login --username AWS --password-stdin {addr}\n"
        "  get a tiny image:     dockyard demo-image | docker load   (or: docker pull hello-world)\n"
        f"  push it:              docker tag hello-world {addr}/hello-world:latest && "
        f"docker push {addr}/hello-world:latest\n"
        + ("" if settings.tls_cert else "                        (podman: add --tls-verify=false)\n")
        + f"  lost the root key?    dockyard key create {data}  (then `key list`, `key delete` the old one)",
        err=True,
    )
