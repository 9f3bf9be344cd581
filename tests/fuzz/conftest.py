"""Property-based fuzzing of both doors (issue 16, item 8): a real Dockyard app in this process
(SQLite + filesystem under a temporary directory, no background jobs), driven through Starlette's
TestClient with hostile input. Every answer must be a 2xx or a 4xx with its door's error
envelope, never a 5xx, and a refused request must change no state.

Profiles: `ci` (the default here: a few hundred examples in all, well under a minute) and
`long` (`pytest tests/fuzz --hypothesis-profile=long`)."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz import profiles  # noqa: F401  (registers the profiles before pytest-hypothesis loads one)


@dataclass(repr=False)
class Door:
    """The app under test, with a root access key, a /v2/ token and a repository holding a blob."""

    client: Any
    data_dir: Path
    access_key: str
    secret_key: str
    basic: str  # the /v2/ Authorization header value
    repo: str
    blob: bytes
    blob_digest: str

    def __repr__(self) -> str:
        return f"Door({self.data_dir})"

    def state(self) -> tuple[int, ...]:
        """Row counts of everything a request could change: equal before and after a refusal."""
        tables = (
            "repositories",
            "manifests",
            "tags",
            "blobs",
            "repository_blobs",
            "uploads",
            "access_keys",
            "users",
        )
        with sqlite3.connect(self.data_dir / "dockyard.db") as db:
            counts = tuple(int(db.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]) for name in tables)
            policies = db.execute(
                "SELECT COUNT(policy), COUNT(lifecycle_policy), GROUP_CONCAT(LENGTH(policy)),"
                " GROUP_CONCAT(LENGTH(lifecycle_policy)) FROM repositories"
            ).fetchone()
        return (*counts, *[hash(v) for v in policies])


@pytest.fixture(scope="session")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    from starlette.testclient import TestClient

    from dockyard.app import DockyardApp
    from dockyard.auth.identity import ROOT_USER
    from dockyard.config import Settings
    from tests.fuzz.requests import ecr_call, sha

    data_dir = tmp_path_factory.mktemp("fuzz")
    settings_ = Settings(data_dir=data_dir)
    app = DockyardApp(settings_)
    app.registry.start_background = lambda: None  # type: ignore[method-assign]  # no jobs here
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as client:
        key = client.portal.call(app.registry.identity.create_key, settings_.account_id, ROOT_USER)  # type: ignore[union-attr]
        door = Door(client, data_dir, key.access_key_id, key.secret_access_key, "", "fuzz/base", b"", "")
        r = ecr_call(door, "GetAuthorizationToken", {})
        assert r.status_code == 200, r.text
        token = r.json()["authorizationData"][0]["authorizationToken"]
        door.basic = "Basic " + token
        assert base64.b64decode(token).startswith(b"AWS:")
        r = ecr_call(door, "CreateRepository", {"repositoryName": door.repo})
        assert r.status_code == 200, r.text
        door.blob = b"a blob the fuzzer reads ranges of" * 50
        door.blob_digest = sha(door.blob)
        r = client.post(
            f"/v2/{door.repo}/blobs/uploads/",
            params={"digest": door.blob_digest},
            content=door.blob,
            headers={"Authorization": door.basic},
        )
        assert r.status_code == 201, r.text
        yield door
