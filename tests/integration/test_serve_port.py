"""A second `dockyard serve` on a port a server already listens on refuses to start (Granian
binds with SO_REUSEPORT, so both would otherwise serve it, each request landing on either)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.clients import Registry, run

pytestmark = pytest.mark.integration


def test_second_server_on_a_busy_port_refuses_to_start(registry: Registry, tmp_path: Path) -> None:
    result = run(
        [
            sys.executable,
            "-m",
            "dockyard",
            "serve",
            "--port",
            str(registry.port),
            "--data-dir",
            tmp_path / "data",
        ],
        check=False,
        timeout=60,
    )
    assert result.returncode != 0, result.describe()
    expected = (
        f"port {registry.port} on 127.0.0.1 is already in use (another dockyard?) — stop it or pass --port"
    )
    assert expected in result.stderr, result.describe()
    assert not (tmp_path / "data").exists()  # refused before touching anything
    with registry.http() as client:
        assert client.get("/healthz").status_code == 200
