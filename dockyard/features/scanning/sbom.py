"""CycloneDX 1.6 export of an image inventory (Inspector's CreateSbomExport equivalent)."""

from __future__ import annotations

import json
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from dockyard.features.scanning.model import Inventory, Package

PROPERTY_PREFIX = "dockyard:"


def _purl(p: Package) -> PackageURL | None:
    if not p.purl:
        return None
    try:
        return PackageURL.from_string(p.purl)
    except ValueError:
        return None


def _component(p: Package, index: int) -> Component:
    props = [Property(name=f"{PROPERTY_PREFIX}package_manager", value=p.package_manager)]
    props.append(Property(name=f"{PROPERTY_PREFIX}file_path", value=p.file_path))
    if p.layer_digest:
        props.append(Property(name=f"{PROPERTY_PREFIX}layer_digest", value=p.layer_digest))
    if p.ecosystem:
        props.append(Property(name=f"{PROPERTY_PREFIX}ecosystem", value=p.ecosystem))
    if p.source_name:
        props.append(Property(name=f"{PROPERTY_PREFIX}source_name", value=p.source_name))
    if p.source_version:
        props.append(Property(name=f"{PROPERTY_PREFIX}source_version", value=p.source_version))
    # Stable, unique refs: the same package can sit in two files (two venvs, two jars).
    return Component(
        type=ComponentType.LIBRARY,
        name=p.name,
        version=p.version,
        purl=_purl(p),
        bom_ref=f"pkg-{index}:{p.purl or p.name + '@' + p.version}",
        licenses=[LicenseExpression(p.license)] if p.license else None,
        properties=props,
    )


def cyclonedx(inventory: Inventory, *, name: str, digest: str) -> dict[str, Any]:
    """The image is the BOM's subject; its OS (if known) and every package are components."""
    bom = Bom()
    image = Component(
        type=ComponentType.CONTAINER,
        name=name,
        version=digest,
        bom_ref=f"image:{digest}",
        purl=PackageURL(type="oci", name=name.rsplit("/", 1)[-1].lower(), version=digest),
    )
    bom.metadata.component = image
    if inventory.os is not None:
        os_props = (
            [Property(name=f"{PROPERTY_PREFIX}ecosystem", value=inventory.os.ecosystem)]
            if (inventory.os.ecosystem)
            else []
        )
        os_component = Component(
            type=ComponentType.OPERATING_SYSTEM,
            name=inventory.os.id,
            version=inventory.os.version_id or None,
            description=inventory.os.pretty_name,
            bom_ref=f"os:{inventory.os.id}@{inventory.os.version_id}",
            properties=os_props,
        )
        bom.components.add(os_component)
    for i, p in enumerate(inventory.packages):
        bom.components.add(_component(p, i))
    # Everything found is "in" the image; a flat graph is the honest one (no dependency data).
    bom.register_dependency(image, list(bom.components))
    return json.loads(JsonV1Dot6(bom).output_as_string())
