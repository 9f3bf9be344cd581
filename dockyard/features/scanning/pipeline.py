"""Scanning one image: read its layers, analyze them, apply them into an inventory, match it
against the vulnerability database and record the outcome.

Each layer is read once: results are cached per layer digest and analyzer version in
``scan_layers``, so images sharing base layers only analyze their own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dockyard.core.media_types import DOCKER_IMAGE_CONFIG, INDEXES, OCI_IMAGE_CONFIG
from dockyard.faults import crash_point
from dockyard.features.scanning import config as sc
from dockyard.features.scanning import findings as fx
from dockyard.features.scanning.model import Finding, Inventory
from dockyard.features.scanning.records import (
    COMPLETE,
    FAILED,
    UNSUPPORTED_IMAGE,
    ScanRecord,
    ScanRecords,
)
from dockyard.store.meta import tables as t

if TYPE_CHECKING:
    from dockyard.features import RegistryParts
    from dockyard.features.scanning.vulndb import VulnDb

log = logging.getLogger("dockyard.features.scanning")

# What ECR says for images it finds no operating system in (scratch, distroless-static).
UNSUPPORTED_OS = "UnsupportedImageError: The operating system and/or package manager are not supported."
UNSUPPORTED_ARTIFACT = "UnsupportedImageError: The image type is not supported."
UNSUPPORTED_INDEX = "UnsupportedImageError: Image indexes are not scanned; their platform images are."
COMPLETE_DESCRIPTION = "The scan was completed successfully."
IMAGE_CONFIGS = frozenset({OCI_IMAGE_CONFIG, DOCKER_IMAGE_CONFIG})
# Layers the registry may legitimately not hold (Windows base layers): skipped, not a failure.
FOREIGN_LAYER_MARKERS = ("foreign", "nondistributable")


class ImageGone(Exception):
    """The manifest was deleted before its scan ran."""


class Unsupported(Exception):
    """An image that cannot be scanned (index, artifact); ``description`` is what ECR says."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ScanPipeline(ScanRecords):
    """The scan job: one image from its layers to its recorded findings."""

    def __init__(self, registry: RegistryParts) -> None:
        super().__init__(registry)
        self._vulndb: VulnDb | None = None
        self.layers_analyzed = 0  # layers read from the blob store by this process (for tests)

    # ---------------------------------------------------------------- the vulnerability database
    def vulndb(self) -> VulnDb:
        if self._vulndb is None:
            from dockyard.features.scanning.vulndb import VulnDb

            self._vulndb = VulnDb(self.db)
        return self._vulndb

    async def vulndb_updated_at(self) -> datetime | None:
        return await self.vulndb().updated_at()

    async def match(self, inventory: Inventory) -> list[Finding]:
        return await self.vulndb().match(inventory)

    # ---------------------------------------------------------------- the scan job
    async def run_job(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Scan one image; the outcome (including failure) is recorded on its scan row."""
        manifest_id = int(payload["manifest_id"])
        scan_type = str(payload.get("scan_type") or sc.BASIC)
        try:
            return await self._scan(manifest_id, scan_type)
        except Exception as e:
            log.exception("scan of manifest %d failed", manifest_id)
            await self.set_status(manifest_id, FAILED, f"ScanFailed: {type(e).__name__}: {e}"[:1000])
            return {"status": FAILED, "error": f"{type(e).__name__}: {e}"}

    async def _manifest(self, manifest_id: int) -> Any:
        m = t.manifests
        async with self.db.read() as conn:
            return (
                await conn.execute(
                    sa.select(m.c.id, m.c.digest, m.c.media_type, m.c.config_media_type, m.c.content).where(
                        m.c.id == manifest_id
                    )
                )
            ).first()

    async def _blob_keys(self, digests: list[str]) -> dict[str, str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(t.blobs.c.digest, t.blobs.c.storage_key).where(t.blobs.c.digest.in_(digests))
            )
            return {r.digest: r.storage_key for r in rows}

    async def _read_small(self, key: str, limit: int = 8 * 1024 * 1024) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.registry.store.read(key):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ValueError("image config is too large")
        return b"".join(parts)

    async def _scan(self, manifest_id: int, scan_type: str) -> dict[str, Any]:
        try:
            inventory, counts = await self.inventory_of(manifest_id)
        except ImageGone:
            return {"status": "gone"}
        except Unsupported as u:
            await self.set_status(manifest_id, UNSUPPORTED_IMAGE, u.description)
            return {"status": UNSUPPORTED_IMAGE}
        outcome = await self.finish(manifest_id, scan_type, inventory)
        return {"status": outcome, **counts}

    async def scan_now(self, manifest_id: int, scan_type: str) -> ScanRecord | None:
        """Scan in this process, without the job queue (``dockyard scan``)."""
        await self.request(manifest_id, scan_type, enqueue=False)
        await self.run_job({"manifest_id": manifest_id, "scan_type": scan_type})
        return await self.get(manifest_id)

    async def inventory_of(self, manifest_id: int) -> tuple[Inventory, dict[str, int]]:
        """The image's packages, from cached layer results where there are some; also how many
        layers were analyzed now and how many came from the cache."""
        row = await self._manifest(manifest_id)
        if row is None:
            raise ImageGone()
        if row.media_type in INDEXES:
            raise Unsupported(UNSUPPORTED_INDEX)
        doc = json.loads(row.content)
        config_desc = doc.get("config") or {}
        if config_desc.get("mediaType", row.config_media_type) not in IMAGE_CONFIGS:
            raise Unsupported(UNSUPPORTED_ARTIFACT)
        layers = [
            d
            for d in doc.get("layers") or []
            if not any(marker in str(d.get("mediaType", "")) for marker in FOREIGN_LAYER_MARKERS)
        ]
        digests = [str(d["digest"]) for d in layers]
        keys = await self._blob_keys([*digests, str(config_desc.get("digest"))])
        image_config: dict[str, Any] = {}
        config_key = keys.get(str(config_desc.get("digest")))
        if config_key is not None:
            image_config = json.loads(await self._read_small(config_key))
        diff_ids = list((image_config.get("rootfs") or {}).get("diff_ids") or [])
        results, analyzed = await self._layer_results(digests, keys, diff_ids)

        from dockyard.features.scanning.apply import apply_layers

        inventory = apply_layers([(d, results[d]) for d in digests])
        return inventory, {"layers": len(digests), "analyzed": analyzed, "cached": len(digests) - analyzed}

    async def _layer_results(
        self, digests: list[str], keys: dict[str, str], diff_ids: list[str]
    ) -> tuple[dict[str, Any], int]:
        """Each layer's analysis: from the cache, else streamed from the blob store (bounded memory)."""
        from dockyard.features.scanning.layers import ANALYZER_VERSION, LayerResult, analyze_blob

        sl = t.scan_layers
        results: dict[str, Any] = {}
        if digests:
            async with self.db.read() as conn:
                rows = await conn.execute(
                    sa.select(sl.c.digest, sl.c.result).where(
                        sl.c.digest.in_(digests), sl.c.analyzer_version == ANALYZER_VERSION
                    )
                )
                for r in rows:
                    results[r.digest] = LayerResult.from_json(r.result)
        analyzed = 0
        for index, digest in enumerate(digests):
            if digest in results:
                continue
            key = keys.get(digest)
            if key is None:
                raise FileNotFoundError(f"layer {digest} is not stored in this registry")
            expected = diff_ids[index] if index < len(diff_ids) else None
            result = await analyze_blob(self._stream(key), expected_diff_id=expected or None)
            self.layers_analyzed += 1
            crash_point("scan.after_layer_analyzed")
            async with self.db.write() as conn:
                await conn.execute(
                    self.db.insert_ignore(sl).values(
                        digest=digest,
                        analyzer_version=ANALYZER_VERSION,
                        diff_id=result.diff_id,
                        result=result.to_json(),
                        analyzed_at=t.now(),
                    )
                )
            results[digest] = result
            analyzed += 1
        return results, analyzed

    async def _stream(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in self.registry.store.read(key):
            yield chunk

    async def finish(self, manifest_id: int, scan_type: str, inventory: Inventory) -> str:
        """Match and record: COMPLETE, or UNSUPPORTED_IMAGE for a BASIC scan that found no OS."""
        if inventory.os is None and scan_type == sc.BASIC:
            await self.store_outcome(
                manifest_id, UNSUPPORTED_IMAGE, UNSUPPORTED_OS, scan_type, inventory, None, None
            )
            return UNSUPPORTED_IMAGE
        updated_at = await self.vulndb_updated_at()
        matched = fx.for_scan_type(await self.match(inventory), scan_type)
        await self.store_outcome(
            manifest_id, COMPLETE, COMPLETE_DESCRIPTION, scan_type, inventory, matched, updated_at
        )
        return COMPLETE
