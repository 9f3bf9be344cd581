"""Storage used by each repository, in one query.

A repository uses the blobs it links (``repository_blobs``: layers and configs pushed or
mounted into it). ``bytes`` is the sum of their sizes; ``unique_bytes`` the part no other
repository links (what deleting the repository and collecting garbage would free);
``shared_bytes`` the rest. Manifests live in the database and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from dockyard.store.meta import tables as t


@dataclass(frozen=True)
class RepositoryUsage:
    repository: str
    images: int
    blobs: int
    bytes: int
    unique_bytes: int

    @property
    def shared_bytes(self) -> int:
        return self.bytes - self.unique_bytes


async def repository_usage(
    conn: AsyncConnection, account_id: str, name: str | None = None
) -> list[RepositoryUsage]:
    """Usage of the account's repositories (or just ``name``), ordered by name."""
    r, rb, b, m = t.repositories, t.repository_blobs, t.blobs, t.manifests
    other = rb.alias("other")
    images = sa.select(sa.func.count()).select_from(m).where(m.c.repository_id == r.c.id).scalar_subquery()
    shared = (
        sa.exists()
        .where(other.c.digest == rb.c.digest, other.c.repository_id != rb.c.repository_id)
        .correlate(rb)
    )
    size = sa.func.coalesce(b.c.size, 0)
    query = (
        sa.select(
            r.c.name,
            images.label("images"),
            sa.func.count(b.c.digest).label("blobs"),
            sa.func.coalesce(sa.func.sum(size), 0).label("bytes"),
            sa.func.coalesce(sa.func.sum(sa.case((shared, 0), else_=size)), 0).label("unique_bytes"),
        )
        .select_from(r.outerjoin(rb, rb.c.repository_id == r.c.id).outerjoin(b, b.c.digest == rb.c.digest))
        .where(r.c.account_id == account_id)
        .group_by(r.c.id, r.c.name)
        .order_by(r.c.name)
    )
    if name is not None:
        query = query.where(r.c.name == name)
    return [
        RepositoryUsage(
            repository=row.name,
            images=int(row.images or 0),
            blobs=int(row.blobs or 0),
            bytes=int(row.bytes or 0),
            unique_bytes=int(row.unique_bytes or 0),
        )
        for row in await conn.execute(query)
    ]


def human_size(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
