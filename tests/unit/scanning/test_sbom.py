"""CycloneDX export: schema-valid 1.6 JSON that carries every package with its purl and origin."""

from __future__ import annotations

import io
import json

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from dockyard.features.scanning.apply import apply_layers
from dockyard.features.scanning.layers import analyze_layer
from dockyard.features.scanning.model import Inventory, OsInfo, Package
from dockyard.features.scanning.sbom import cyclonedx
from tests.scanning_images import all_images


def validate(doc: dict[str, object]) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc))
    assert error is None, error


def test_sbom_of_every_test_image_is_valid() -> None:
    for name, image in all_images().items():
        inv = apply_layers(
            [
                (d, analyze_layer(io.BytesIO(b)))
                for d, (_, b) in zip(image.layer_digests, image.layers, strict=True)
            ]
        )
        doc = cyclonedx(inv, name=f"registry.example/{name}", digest=image.digest)
        validate(doc)
        assert doc["specVersion"] == "1.6"
        assert doc["metadata"]["component"]["version"] == image.digest
        libs = [c for c in doc.get("components", []) if c["type"] == "library"]
        assert sorted((c["name"], c["version"]) for c in libs) == sorted(
            (p.name, p.version) for p in inv.packages
        )
        if name == "debian12":
            (os_c,) = [c for c in doc["components"] if c["type"] == "operating-system"]
            assert (os_c["name"], os_c["version"]) == ("debian", "12")
            lodash = next(c for c in libs if c["name"] == "lodash")
            props = {p["name"]: p["value"] for p in lodash["properties"]}
            assert lodash["purl"] == "pkg:npm/lodash@4.17.20"
            assert props["dockyard:layer_digest"] == image.layer_digests[1]
            assert props["dockyard:file_path"] == "app/node_modules/lodash/package.json"


def test_sbom_duplicates_odd_licenses_and_bad_purls() -> None:
    p = Package("six", "1.16.0", "PyPI", "PYTHONPKG", "a/METADATA", purl="pkg:pypi/six@1.16.0", license="MIT")
    inv = Inventory(
        os=OsInfo("alpine", "3.19.0", None, "Alpine:v3.19"),
        packages=[
            p,
            Package("six", "1.16.0", "PyPI", "PYTHONPKG", "b/METADATA", purl=p.purl, license="MIT"),
            Package(
                "x", "1", None, "OS", "s", purl="not a purl", license="GPL-2.0-or-later AND (MIT OR BSD)"
            ),
        ],
    )
    doc = cyclonedx(inv, name="img", digest="sha256:" + "a" * 64)
    validate(doc)
    assert len([c for c in doc["components"] if c["type"] == "library"]) == 3
