"""One listing of the blob store, indexed the ways the checks look things up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dockyard.store.blobs.base import StoredItem
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.registry import Registry


@dataclass
class Inventory:
    started: datetime  # when the listing began: rows changed since may not match it
    items: list[StoredItem] = field(default_factory=list)
    published: dict[str, StoredItem] = field(default_factory=dict)  # by key
    unpublished_bytes: dict[str, int] = field(default_factory=dict)  # by session
    published_sessions: set[str] = field(default_factory=set)


async def take(registry: Registry) -> Inventory:
    inventory = Inventory(started=t.now())
    async for item in registry.store.stored():
        inventory.items.append(item)
        if item.key:
            inventory.published[item.key] = item
            inventory.published_sessions.add(item.session)
        else:
            inventory.unpublished_bytes[item.session] = (
                inventory.unpublished_bytes.get(item.session, 0) + item.size
            )
    return inventory
