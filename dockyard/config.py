"""One settings object for the server and every CLI command.

Values come, highest precedence first, from command-line flags, `DOCKYARD_*`
environment variables, a TOML config file (`--config`), then the defaults here.
Click layers flags over the environment (see `dockyard/cli/common.py`); the file's values
(:func:`config_file_defaults`) become click's defaults, and :func:`settings_from_options` turns
the result into `Settings`. `dockyard serve` hands them to its server processes through the
environment (:func:`settings_to_env`, :func:`settings_from_env`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard import clock

DEFAULT_ACCOUNT_ID = "000000000000"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database: str | None = None  # SQLAlchemy URL; default: SQLite under data_dir
    blob_store: str | None = None  # default: filesystem under data_dir
    host: str = "127.0.0.1"
    port: int = 5000
    tls_cert: str | None = None  # PEM certificate chain: serve HTTPS (with tls_key)
    tls_key: str | None = None  # its PEM private key
    trusted_proxies: tuple[str, ...] = ()  # CIDRs whose X-Forwarded-*/Forwarded headers are believed
    workers: int = 1
    account_id: str = DEFAULT_ACCOUNT_ID
    region: str = DEFAULT_REGION
    served_regions: tuple[str, ...] = ()  # regions served besides `region` (SigV4 scopes, tokens)
    create_on_push: bool = False
    blob_mounting_default: str = "ENABLED"
    uri_style: str = "host"  # "host": the address clients use; "aws": <acct>.dkr.ecr.<region>.amazonaws.com
    public_host: str | None = None  # host[:port] clients reach us at, when not the request's Host
    token_ttl: int = 12 * 3600
    dev_accept_any_credentials: str | None = None  # account id; development only
    log_level: str = "info"
    json_logs: bool = False
    migrate_on_start: bool = True  # `dockyard serve` migrates once, before starting workers
    job_concurrency: int = 2
    job_lease_seconds: float = 60.0
    upload_max_age_hours: float = 168.0
    lifecycle_interval_minutes: float = 60.0  # the periodic lifecycle scan
    gc_interval_hours: float = 6.0  # the periodic garbage collection
    gc_grace_hours: float = 24.0  # its grace period
    scan_eligibility_days: float = 0.0  # continuous rescans stop this long after a push; 0: never
    min_free_mib: float = 64.0  # uploads leave this much of the blob volume free (store/free_space.py)
    dev_clock_offset_seconds: float = 0.0  # development/test only: see dockyard/clock.py
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        if self.database:
            return self.database
        return f"sqlite+aiosqlite:///{(self.data_dir / 'dockyard.db').resolve()}"

    @property
    def blobs_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def regions(self) -> frozenset[str]:
        """Every region this deployment answers for: requests signed for another are refused."""
        return frozenset((self.region, *self.served_regions))

    @property
    def uses_data_dir(self) -> bool:
        """Whether anything lives in the data dir (the SQLite database or the blobs)."""
        return self.database is None or self.blob_store is None

    @property
    def registry_exists(self) -> bool:
        """Whether the data dir holds a registry (with another database, whether the dir exists)."""
        if self.database is None:
            return (self.data_dir / "dockyard.db").is_file()
        return not self.uses_data_dir or self.data_dir.is_dir()


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into click's `default_map` shape.

    Top-level keys apply to every command; a `[serve]` (or other command) table
    overrides them for that command. Keys use the flag names with `_` or `-`.
    """
    with open(path, "rb") as f:
        raw = tomllib.load(f)
    return {k.replace("-", "_"): v for k, v in raw.items()}


def config_file_defaults(path: str | Path, command: str) -> dict[str, Any]:
    """The option defaults a config file gives ``command``: its top-level keys, overridden by
    the keys of the table named after the command."""
    raw = load_config_file(path)
    section = raw.pop(command, None)
    merged = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    if isinstance(section, dict):
        merged.update({k.replace("-", "_"): v for k, v in section.items()})
    return merged


def settings_from_options(options: Mapping[str, Any]) -> Settings:
    """Settings from a command's option values; options that are None, or no setting, are ignored.

    ValueError: a development-only clock offset asked for outside development mode, or a
    development account other than the default account.
    """
    fields = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in options.items() if k in fields and v is not None}
    values["account_id"] = default_account(
        options.get("account_id"), options.get("dev_accept_any_credentials")
    )
    if "served_regions" in values:
        values["served_regions"] = tuple(values["served_regions"])
    # Off by default: the flag, or DOCKYARD_CLOCK_OFFSET_SECONDS in development mode only.
    values["dev_clock_offset_seconds"] = clock.resolve_offset(
        options.get("dev_clock_offset_seconds"), bool(options.get("dev_accept_any_credentials"))
    )
    return Settings(**values)


def default_account(account_id: str | None, dev_account: str | None) -> str:
    """The account the plain host serves: `--account-id`, else the development account, else
    000000000000.

    Development mode makes every caller the root of its account, so that account must be the one
    the plain host serves (else `docker push` to the `repositoryUri` the ECR API returns is denied).
    Both given and different is refused rather than guessed at.
    """
    if dev_account and account_id and account_id != dev_account:
        raise ValueError(
            f"--dev-accept-any-credentials {dev_account} and --account-id {account_id} differ: in "
            "development mode every caller is the root of the development account, and the default "
            f"account is the one the plain host serves. Drop --account-id (the default account is then "
            f"{dev_account}) or give the same account to both."
        )
    return account_id or dev_account or DEFAULT_ACCOUNT_ID


def unknown_name_message(kind: str, name: str, known: Collection[str], *, hint: str = "") -> str:
    """ "unknown KIND NAME", naming the closest known name (a misspelt option must not pass silently)."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]}?" if close else ""
    return f"unknown {kind} {name}{suggestion}{hint}"


# Settings handed from `dockyard serve` to the processes it starts (JSON).
SETTINGS_ENV = "DOCKYARD_SETTINGS_JSON"


def settings_to_env(settings: Settings) -> str:
    """The value of :data:`SETTINGS_ENV` that hands ``settings`` to another process."""
    return json.dumps({**dataclasses.asdict(settings), "data_dir": str(settings.data_dir.resolve())})


def settings_from_env() -> Settings:
    """Settings handed from `dockyard serve` to server worker processes."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        return Settings()
    data = json.loads(raw)
    data["data_dir"] = Path(data["data_dir"])
    data["trusted_proxies"] = tuple(data.get("trusted_proxies") or ())
    data["served_regions"] = tuple(data.get("served_regions", ()))
    return Settings(**data)
