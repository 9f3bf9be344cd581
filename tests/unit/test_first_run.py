"""What a first run shows: one name for this machine's address, and the demo image."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from dockyard import addresses
from dockyard.cli import main
from dockyard.cli.demo_image import docker_archive
from dockyard.config import Settings


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("127.0.0.1:5000", "localhost:5000"),
        ("127.0.0.53:80", "localhost:80"),
        ("[::1]:5000", "localhost:5000"),
        ("127.0.0.1", "localhost"),
        ("localhost:5000", "localhost:5000"),
        ("registry.example.com:5000", "registry.example.com:5000"),
        ("10.0.0.1:5000", "10.0.0.1:5000"),
        ("127.0.0.1.example.com", "127.0.0.1.example.com"),
    ],
)
def test_loopback_addresses_are_named_localhost(host: str, canonical: str) -> None:
    assert addresses.canonical_host(host) == canonical


def test_repository_uris_name_loopback_localhost() -> None:
    settings = Settings()
    assert addresses.repository_uri(settings, "000000000000", "app", "127.0.0.1:5000") == "localhost:5000/app"
    other = addresses.repository_uri(settings, "111122223333", "app", "127.0.0.1:5000")
    assert other == "localhost:5000/app"  # localhost takes no account label: the credential picks it
    assert (
        addresses.repository_uri(settings, "000000000000", "app", "reg.example:443") == "reg.example:443/app"
    )


@pytest.mark.parametrize(
    ("host", "public", "address"),
    [
        ("127.0.0.1", None, "localhost:5000"),
        ("0.0.0.0", None, "localhost:5000"),
        ("::", None, "localhost:5000"),
        ("::1", None, "localhost:5000"),
        ("10.1.2.3", None, "10.1.2.3:5000"),
        ("0.0.0.0", "registry.example.com", "registry.example.com"),
    ],
)
def test_the_address_messages_give(host: str, public: str | None, address: str) -> None:
    assert addresses.local_address(Settings(host=host, public_host=public)) == address


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_demo_image_is_a_valid_reproducible_docker_archive() -> None:
    archive = docker_archive("hello-world:latest", architecture="arm64")
    assert archive == docker_archive("hello-world:latest", architecture="arm64")
    files = _members(archive)
    (entry,) = json.loads(files["manifest.json"])
    assert entry["RepoTags"] == ["hello-world:latest"]
    config_bytes = files[entry["Config"]]
    assert entry["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    config = json.loads(config_bytes)
    assert config["os"] == "linux" and config["architecture"] == "arm64"
    (layer_name,) = entry["Layers"]
    layer = files[layer_name]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    assert b"Hello from Dockyard" in _members(layer)["hello.txt"]


def test_demo_image_command_writes_the_archive(tmp_path: Path) -> None:
    out = tmp_path / "demo.tar"
    result = CliRunner().invoke(main, ["demo-image", "--tag", "demo", "--output", str(out)])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(_members(out.read_bytes())["manifest.json"])
    assert entry["RepoTags"] == ["demo:latest"]
