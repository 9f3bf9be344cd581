"""Mistakes the command line must not let pass silently (issue 15, item 6): a mistyped data dir,
config key or environment variable, an account that does not exist, a GC run the grace period
emptied, a scan that could not scan."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from dockyard.cli import main
from dockyard.core.repositories import Repository
from dockyard.registry import Registry
from tests.unit.registry_testlib import run, sha256

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for tests.scanning_images
    sys.path.insert(0, str(ROOT))

from tests import scanning_images as si  # noqa: E402


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def new_registry(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    created = cli("migrate", "--data-dir", str(data))
    assert created.exit_code == 0, created.output
    assert f"created a new registry in {data}" in created.stderr
    again = cli("migrate", "--data-dir", str(data))
    assert again.exit_code == 0 and "created a new registry" not in again.output
    return data


# ------------------------------------------------------------------------------ the data dir
@pytest.mark.parametrize(
    "args",
    [
        ["repo", "list"],
        ["user", "create", "alice"],
        ["key", "create"],
        ["gc", "--dry-run"],
        ["jobs", "list"],
        ["check"],
        ["vulndb", "info"],
        ["account", "list"],
    ],
)
def test_commands_other_than_serve_and_migrate_never_create_a_registry(
    tmp_path: Path, args: list[str]
) -> None:
    missing = tmp_path / "typo"
    result = cli(*args, "--data-dir", str(missing))
    assert result.exit_code != 0, result.output
    assert f"no registry in {missing}" in result.output
    assert not missing.exists()
    # An existing directory without a database is no registry either.
    missing.mkdir()
    result = cli(*args, "--data-dir", str(missing))
    assert result.exit_code != 0 and f"no registry in {missing}" in result.output
    assert list(missing.iterdir()) == []


# ------------------------------------------------------------------------------ config and environment
def test_a_misspelt_config_key_is_refused_naming_the_option(tmp_path: Path) -> None:
    data = new_registry(tmp_path)
    config = tmp_path / "dockyard.toml"
    config.write_text(f'data_dir = "{data}"\nregoin = "eu-west-1"\n')
    result = cli("repo", "list", "--config", str(config))
    assert result.exit_code == 2
    assert "unknown key regoin; did you mean region?" in result.output
    config.write_text(f'data_dir = "{data}"\n[serve]\nprot = 5001\n')
    result = cli("repo", "list", "--config", str(config))
    assert result.exit_code == 2 and "unknown key in [serve]: prot; did you mean port?" in result.output
    config.write_text(f'data_dir = "{data}"\n[srve]\nport = 5001\n')
    result = cli("repo", "list", "--config", str(config))
    assert result.exit_code == 2 and "unknown table [srve]; did you mean [serve]?" in result.output
    # Keys of other commands at the top level, and a command's own table, are fine.
    config.write_text(f'data_dir = "{data}"\nport = 5001\nuri-style = "aws"\n[serve]\ntoken-ttl = 600\n')
    result = cli("repo", "list", "--config", str(config))
    assert result.exit_code == 0, result.output


def test_a_misspelt_environment_variable_is_refused_naming_the_option(tmp_path: Path) -> None:
    data = new_registry(tmp_path)
    result = cli("repo", "list", "--data-dir", str(data), env={"DOCKYARD_DATADIR": str(data)})
    assert result.exit_code == 2
    assert "unknown environment variable DOCKYARD_DATADIR; did you mean DOCKYARD_DATA_DIR?" in result.output
    ok = cli("repo", "list", env={"DOCKYARD_DATA_DIR": str(data), "DOCKYARD_S3_ACCESS_KEY_ID": "x"})
    assert ok.exit_code == 0, ok.output


# ------------------------------------------------------------------------------ accounts
@pytest.mark.parametrize(
    "args",
    [
        ["user", "create", "alice"],
        ["user", "list"],
        ["key", "create"],
        ["iam", "create-group", "devs"],
        ["repo", "create", "team/app"],
    ],
)
def test_commands_in_an_account_that_does_not_exist_fail(tmp_path: Path, args: list[str]) -> None:
    data = new_registry(tmp_path)
    result = cli(*args, "--data-dir", str(data), "--account-id", "111122223333")
    assert result.exit_code != 0
    assert (
        "account 111122223333 does not exist; create it with `dockyard account create 111122223333`"
        in result.output
    )
    listed = cli("account", "list", "--data-dir", str(data))
    assert "111122223333" not in listed.output
    # Once created, the same command works.
    assert cli("account", "create", "111122223333", "--data-dir", str(data)).exit_code == 0
    done = cli(*args, "--data-dir", str(data), "--account-id", "111122223333")
    assert done.exit_code == 0, done.output


def test_development_account_and_account_id_must_agree() -> None:
    from dockyard.config import settings_from_options

    dev = settings_from_options({"dev_accept_any_credentials": "123456789012", "account_id": None})
    assert dev.account_id == "123456789012"
    assert settings_from_options({"account_id": None}).account_id == "000000000000"
    same = {"dev_accept_any_credentials": "123456789012", "account_id": "123456789012"}
    assert settings_from_options(same).account_id == "123456789012"
    with pytest.raises(ValueError, match="--dev-accept-any-credentials 123456789012 and --account-id"):
        settings_from_options({"dev_accept_any_credentials": "123456789012", "account_id": "000000000000"})


# ------------------------------------------------------------------------------ gc
async def _deleted_image(registry: Registry) -> None:
    """A repository with three blobs whose image was deleted: only the grace period keeps them."""
    repo: Repository = await registry.repositories.create(registry.settings.account_id, "gc/app")
    for i in range(3):
        data = b"layer %d" % i
        upload = await registry.blobs.start_upload(repo)
        await registry.blobs.append_bytes(repo, upload.id, data, 0)
        await registry.blobs.complete(repo, upload.id, sha256(data))


def test_gc_says_what_the_grace_period_kept_and_prints_each_line_once(tmp_path: Path) -> None:
    data = new_registry(tmp_path)

    async def populate(registry: Registry) -> None:
        await _deleted_image(registry)

    run(data, populate)
    dry = cli("gc", "--dry-run", "--data-dir", str(data))
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[:3] == [
        "links: 0 to remove",
        "blobs: 0 to remove, 0 bytes to free",
        "orphans: 0 to remove, 0 bytes to free",
    ], dry.output
    assert lines[3].startswith("kept by the 24-hour grace period: 3 unreferenced links and 0 unlinked blobs")
    assert "eligible at 20" in lines[3] and " UTC" in lines[3]
    assert len(lines) == 4

    done = cli("gc", "--grace-hours", "0", "--data-dir", str(data))
    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "links: 3 removed",
        "blobs: 3 removed, 21 bytes freed",
        "orphans: 0 removed, 0 bytes freed",
    ], done.output


# ------------------------------------------------------------------------------ scan
async def _push(registry: Registry, name: str, image: si.TestImage) -> None:
    repo = await registry.repositories.create(registry.settings.account_id, name)

    async def one(data: bytes) -> Any:
        yield data

    for digest, blob in image.blobs().items():
        await registry.blobs.put_monolithic(repo, digest, one(blob))
    await registry.manifests.put(repo, "v1", image.manifest, si.OCI_MANIFEST)


def test_scan_of_an_unsupported_image_says_so(tmp_path: Path) -> None:
    data = new_registry(tmp_path)

    async def populate(registry: Registry) -> None:
        await _push(registry, "scan/scratch", si.scratch_image())

    run(data, populate)
    result = cli("scan", "scan/scratch:v1", "--scan-type", "BASIC", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert "UNSUPPORTED_IMAGE (BASIC)" in result.output
    assert "not scanned: the image is unsupported (UnsupportedImageError:" in result.output
    assert "--scan-type ENHANCED" in result.output
    assert "findings" not in result.output and "no vulnerabilities" not in result.output
