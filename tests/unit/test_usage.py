"""Storage usage per repository (dockyard.core.usage) and `dockyard repo list` / `repo usage`,
checked against a brute-force count over random links on a real SQLite database."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from dockyard.cli import main
from dockyard.core.usage import RepositoryUsage, repository_usage
from dockyard.registry import Registry
from dockyard.store.meta import tables as t
from tests.unit.registry_testlib import run

OTHER_ACCOUNT = "111122223333"


async def populate(registry: Registry, seed: int = 7) -> dict[str, RepositoryUsage]:
    """Random repositories (two accounts), blobs, links and manifests; the expected usage."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    account = registry.settings.account_id
    sizes = {f"sha256:{i:064x}": rnd.randrange(1, 10_000) for i in range(60)}
    names = [(account, f"usage/r{i:02d}") for i in range(12)] + [(OTHER_ACCOUNT, "usage/foreign")]
    async with registry.db.write() as conn:
        await conn.execute(t.accounts.insert().values(id=OTHER_ACCOUNT, created_at=now))
        await conn.execute(
            t.blobs.insert(),
            [dict(digest=d, size=s, created_at=now, storage_key=d) for d, s in sizes.items()],
        )
        links: dict[str, set[str]] = {}
        images: dict[str, int] = {}
        for acct, name in names:
            rid = await conn.scalar(
                t.repositories.insert()
                .values(account_id=acct, name=name, created_at=now, scan_on_push=name.endswith("3"))
                .returning(t.repositories.c.id)
            )
            chosen = set(rnd.sample(sorted(sizes), rnd.randrange(0, 12))) if name != "usage/r00" else set()
            links[name] = chosen
            if chosen:
                await conn.execute(
                    t.repository_blobs.insert(),
                    [dict(repository_id=rid, digest=d, created_at=now) for d in chosen],
                )
            images[name] = rnd.randrange(0, 4)
            for j in range(images[name]):
                await conn.execute(
                    t.manifests.insert().values(
                        repository_id=rid, digest=f"sha256:m{j}", media_type="x", content=b"{}", pushed_at=now
                    )
                )
    expected = {}
    for acct, name in names:
        if acct != account:
            continue
        unique = [d for d in links[name] if all(d not in v for k, v in links.items() if k != name)]
        expected[name] = RepositoryUsage(
            repository=name,
            images=images[name],
            blobs=len(links[name]),
            bytes=sum(sizes[d] for d in links[name]),
            unique_bytes=sum(sizes[d] for d in unique),
        )
    return expected


def project(u: RepositoryUsage) -> tuple[str, int, int, int, int]:
    return (u.repository, u.images, u.blobs, u.bytes, u.unique_bytes)


def test_usage_matches_brute_force_in_one_query(tmp_path: Path) -> None:
    async def body(registry: Registry) -> None:
        expected = await populate(registry)
        assert any(u.unique_bytes < u.bytes for u in expected.values())  # some sharing happens
        statements: list[str] = []
        assert registry.db._inline is not None
        sa.event.listen(registry.db._inline, "before_cursor_execute", lambda *a: statements.append(a[2]))
        async with registry.db.read() as conn:
            rows = await repository_usage(conn, registry.settings.account_id)
        assert [s for s in statements if s != "BEGIN"] == statements[-1:]  # one query for all
        assert [project(u) for u in rows] == [project(expected[n]) for n in sorted(expected)]
        assert {u.repository for u in rows if u.scan_on_push} == {"usage/r03"}
        assert all(u.tag_mutability == "MUTABLE" and u.created_at for u in rows)
        for name in ("usage/r00", "usage/r05"):
            async with registry.db.read() as conn:
                one = await repository_usage(conn, registry.settings.account_id, name)
            assert [project(u) for u in one] == [project(expected[name])]
        async with registry.db.read() as conn:
            assert await repository_usage(conn, registry.settings.account_id, "usage/foreign") == []

    run(tmp_path, body)


def test_repo_list_and_usage_cli(tmp_path: Path) -> None:
    expected = run(tmp_path, populate)
    cli = CliRunner()
    result = cli.invoke(
        main, ["repo", "list", "--data-dir", str(tmp_path), "--bytes", "--public-host", "reg.example:443"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "REPOSITORY",
        "URI",
        "CREATED",
        "MUTABILITY",
        "SCAN-ON-PUSH",
        "IMAGES",
        "BYTES",
        "UNIQUE",
    ]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert sorted(rows) == sorted(expected)
    for name, u in expected.items():
        uri, created, mutability, scan, images, total, unique = rows[name]
        assert uri == f"reg.example:443/{name}"
        assert created.endswith("Z") and mutability == "MUTABLE"
        assert scan == ("yes" if name == "usage/r03" else "no")
        assert [images, total, unique] == [str(u.images), str(u.bytes), str(u.unique_bytes)]

    aws = cli.invoke(main, ["repo", "list", "--data-dir", str(tmp_path), "--uri-style", "aws"])
    assert aws.exit_code == 0, aws.output
    assert "000000000000.dkr.ecr.us-east-1.amazonaws.com/usage/r01" in aws.output

    usage = cli.invoke(main, ["repo", "usage", "usage/r05", "--data-dir", str(tmp_path), "--bytes"])
    assert usage.exit_code == 0, usage.output
    u = expected["usage/r05"]
    assert usage.output.splitlines()[1].split() == [
        u.repository,
        str(u.images),
        str(u.blobs),
        str(u.bytes),
        str(u.unique_bytes),
    ]
    missing = cli.invoke(main, ["repo", "usage", "usage/nope", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1
