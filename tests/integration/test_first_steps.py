"""The README's first steps, run as written: a fresh server, the aws CLI and the docker CLI (through
``podman system service``, as in test_clients_docker.py).

Only the port (the test server's, not 5000) and the credentials (the ones this server printed)
are substituted; `dockyard` and `aws` are the ones installed beside this Python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.clients import DockerCLI, Registry, dockyard_server, require_tool, sha256_digest

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def first_steps_block() -> str:
    """The first ```sh block under the README's "## First steps" heading."""
    text = README.read_text()
    section = text[text.index("## First steps") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "no ```sh block under '## First steps' in README.md"
    return match.group(1)


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A server of its own: the README creates `hello-world`, which other tests may create too."""
    with dockyard_server(tmp_path_factory.mktemp("first-steps")) as reg:
        yield reg


def test_readme_first_steps_run_as_written(fresh_server: Registry, tmp_path: Path) -> None:
    registry = fresh_server
    block = first_steps_block()
    assert "localhost:5000" in block and "--region" in block, block
    script = block.replace("localhost:5000", registry.localhost)
    key, secret = registry.access_key_id, registry.secret_access_key
    credentials = f"export AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret}"
    script, found = re.subn(
        r"^export AWS_ACCESS_KEY_ID=\.\.\. AWS_SECRET_ACCESS_KEY=\.\.\.", credentials, script, flags=re.M
    )
    assert found == 1, block

    # The start-up message shows the same commands, with this server's address and region.
    banner = registry.log_path.read_text()
    assert f"--endpoint-url http://{registry.localhost} --region us-east-1" in banner, banner
    assert f"--password-stdin {registry.localhost}" in banner, banner
    assert "dockyard demo-image | docker load" in banner, banner
    assert "Embedded server is experimental" not in banner, banner

    require_tool("podman")
    docker = DockerCLI(
        tmp_path / "docker",
        insecure_hosts=[registry.localhost],
        docker=require_tool("docker"),
        podman=require_tool("podman"),
    )
    # `dockyard` and `aws` as installed beside this Python (a shim where it is not a venv).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dockyard").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dockyard "$@"\n')
    (bin_dir / "dockyard").chmod(0o755)
    env = {
        **{k: v for k, v in docker.env.items() if not k.startswith(("AWS_", "DOCKYARD_"))},
        "PATH": os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ["PATH"]]),
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    }
    docker.start()
    try:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, f"script:\n{script}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        pushed = docker.inspect(f"{registry.localhost}/hello-world:latest")
    finally:
        docker.stop()

    # The registry has the image docker pushed: the config is the loaded image's.
    digest = registry.manifest_digest("hello-world", "latest")
    manifest = registry.manifest("hello-world", digest).json()
    assert manifest["config"]["digest"].removeprefix("sha256:") == pushed["Id"].removeprefix("sha256:")
    with registry.http() as http:
        layer = manifest["layers"][0]["digest"]
        blob = http.get(f"/v2/hello-world/blobs/{layer}")
        assert blob.status_code == 200 and sha256_digest(blob.content) == layer
