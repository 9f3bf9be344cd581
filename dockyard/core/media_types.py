"""Manifest media types and the parsing that turns a pushed manifest into facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.core import untrusted_json
from dockyard.core.digests import parse_digest
from dockyard.core.errors import DigestInvalid, ManifestInvalid

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_IMAGE_CONFIG = "application/vnd.docker.container.image.v1+json"

IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_MANIFESTS | INDEXES
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


@dataclass
class ParsedManifest:
    media_type: str
    blob_refs: list[tuple[str, int]] = field(default_factory=list)  # config + layers (digest, size)
    child_refs: list[str] = field(default_factory=list)  # index entries
    children: list[dict[str, Any]] = field(default_factory=list)  # index descriptors (platform...)
    subject: str | None = None
    artifact_type: str | None = None
    config_media_type: str | None = None
    annotations: dict[str, str] | None = None
    layers_size: int = 0


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    try:
        doc = untrusted_json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise ManifestInvalid(f"manifest is not valid JSON: {e}") from None
    except RecursionError:
        raise ManifestInvalid("manifest JSON is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ManifestInvalid("manifest must be a JSON object")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ManifestInvalid("mediaType must be a string")
    content_type = (content_type or "").split(";", 1)[0].strip() or None
    if content_type in ("application/json", "application/octet-stream"):
        content_type = None
    if declared and content_type and declared != content_type:
        raise ManifestInvalid(
            f"Content-Type {content_type!r} does not match the manifest's mediaType {declared!r}"
        )
    media_type = declared or content_type or _infer(doc)
    if media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED):
        raise ManifestInvalid("Docker schema 1 manifests are not supported; push schema 2 or OCI manifests")
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(
            f"unsupported manifest media type {media_type!r}; supported: {', '.join(sorted(MANIFEST_TYPES))}"
        )
    if doc.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    parsed = ParsedManifest(media_type=media_type)
    annotations = doc.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise ManifestInvalid("annotations must be an object of strings")
        parsed.annotations = annotations
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ManifestInvalid("artifactType must be a string")
    if "subject" in doc:
        parsed.subject = _descriptor(doc["subject"], "subject")["digest"]

    if media_type in IMAGE_MANIFESTS:
        config = _descriptor(doc.get("config"), "config")
        parsed.config_media_type = config["mediaType"]
        parsed.blob_refs.append((config["digest"], config["size"]))
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("layers must be a list of descriptors")
        for i, layer in enumerate(layers):
            desc = _descriptor(layer, f"layers[{i}]")
            parsed.layers_size += desc["size"]
            if desc.get("urls"):
                continue  # non-distributable layer: its bytes live elsewhere
            parsed.blob_refs.append((desc["digest"], desc["size"]))
        if artifact_type is None:
            # The referrers API reports the config type when a manifest names no artifactType.
            artifact_type = config["mediaType"]
    else:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ManifestInvalid("manifests must be a list of descriptors")
        for i, entry in enumerate(entries):
            desc = _descriptor(entry, f"manifests[{i}]")
            parsed.child_refs.append(desc["digest"])
            parsed.children.append(desc)
    parsed.artifact_type = artifact_type
    return parsed


def _infer(doc: dict[str, Any]) -> str:
    if "manifests" in doc:
        return OCI_INDEX
    if "config" in doc:
        return OCI_MANIFEST
    raise ManifestInvalid("cannot tell the manifest's type: set mediaType or Content-Type")


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ManifestInvalid(f"{where} must be a descriptor object")
    media_type = value.get("mediaType")
    if not isinstance(media_type, str) or not media_type:
        raise ManifestInvalid(f"{where}.mediaType must be a non-empty string")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"{where}.size must be a non-negative integer")
    try:
        parse_digest(value.get("digest"))
    except DigestInvalid as e:
        raise ManifestInvalid(f"{where}.digest: {e.message}") from None
    return value
