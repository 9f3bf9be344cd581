"""`dockyard demo-image`: a tiny image to push on a machine that has none (and no internet).

The README's first steps push `hello-world`; a fresh machine may not have it and may not
reach Docker Hub. This writes a valid image (one layer holding a text file, a config) as a
`docker save` archive, so ``dockyard demo-image | docker load`` (or ``podman load``) makes it a
local image every client knows how to push. It is reproducible: the same digests every time.
It has no program in it, so it is for pushing and pulling, not for running.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import sys
import tarfile
from typing import BinaryIO

import click

DEFAULT_TAG = "hello-world:latest"
CREATED = "2024-01-01T00:00:00Z"  # fixed, so the image's digests never change
GREETING = (
    b"Hello from Dockyard!\n"
    b"This image was made by `dockyard demo-image`: one layer with this file, and a config.\n"
)
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def docker_archive(tag: str = DEFAULT_TAG, architecture: str | None = None) -> bytes:
    """A `docker save`-format archive of the demo image, tagged ``tag``."""
    layer = _tar({"hello.txt": GREETING})
    layer_hex = hashlib.sha256(layer).hexdigest()
    arch = architecture or _GO_ARCH.get(platform.machine().lower(), "amd64")
    config = _json(
        {
            "architecture": arch,
            "os": "linux",
            "created": CREATED,
            "config": {"Labels": {"org.opencontainers.image.title": "dockyard demo image"}},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
            "history": [{"created": CREATED, "created_by": "dockyard demo-image"}],
        }
    )
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    layer_name = f"{layer_hex}/layer.tar"
    manifest = _json([{"Config": config_name, "RepoTags": [tag], "Layers": [layer_name]}])
    return _tar({"manifest.json": manifest, config_name: config, layer_name: layer})


def _full_tag(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


@click.command("demo-image")
@click.option(
    "--tag",
    default=DEFAULT_TAG,
    show_default=True,
    help="The name (and tag) the image gets when loaded.",
)
@click.option(
    "--output",
    "-o",
    type=click.File("wb"),
    help="Write the archive to this file instead of standard output.",
)
def demo_image(tag: str, output: BinaryIO | None) -> None:
    """Write a tiny image as a `docker save` archive: `dockyard demo-image | docker load`.

    For a first push on a machine with no images and no internet; it holds one text file
    (it does not run). Reproducible: the same digests every time.
    """
    if output is None:
        if sys.stdout.isatty():
            raise click.UsageError("this writes a tar archive: pipe it to `docker load`, or give --output")
        output = sys.stdout.buffer
    output.write(docker_archive(_full_tag(tag)))
    output.flush()
