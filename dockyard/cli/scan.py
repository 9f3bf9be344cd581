"""``dockyard scan IMAGE`` and ``dockyard sbom IMAGE``: scanning from the command line, against the
same storage the server uses (no server needed, and none is disturbed: results land in the same
tables the ECR API reads)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from dockyard.cli.common import command_settings, run_with_app, storage_options

if TYPE_CHECKING:
    from dockyard.app import DockyardApp


def parse_image(image: str) -> tuple[str, str]:
    """``repo:tag`` or ``repo@sha256:...`` -> (repository, reference); a bare name means ``latest``."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    name, sep, tag = image.rpartition(":")
    if sep and "/" not in tag and name:
        return name, tag
    return image, "latest"


def _not_scanned(status: str, description: str | None, scan_type: str) -> str:
    from dockyard.features.scanning.pipeline import UNSUPPORTED_OS
    from dockyard.features.scanning.records import UNSUPPORTED_IMAGE

    why = description or "no reason recorded"
    if status == UNSUPPORTED_IMAGE:
        hint = ""
        if description == UNSUPPORTED_OS and scan_type == "BASIC":
            hint = " BASIC scans read OS packages only; --scan-type ENHANCED also reads language packages."
        return f"not scanned: the image is unsupported ({why}).{hint}"
    return f"not scanned: the scan ended {status} ({why})."


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


@click.command("scan")
@storage_options
@click.argument("image")
@click.option(
    "--scan-type",
    type=click.Choice(["BASIC", "ENHANCED"]),
    default=None,
    help="Default: the registry's scanning configuration (BASIC reports OS packages only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored findings as JSON.")
def scan(image: str, scan_type: str | None, as_json: bool, **kwargs: object) -> None:
    """Scan IMAGE (repo:tag or repo@digest) now and print its vulnerabilities."""
    settings = command_settings(**kwargs)
    repository, reference = parse_image(image)

    async def go(app: DockyardApp) -> None:
        registry = app.registry
        manifest = await registry.manifests.get(settings.account_id, repository, reference)
        repo = await registry.repositories.get(settings.account_id, repository)
        kind = scan_type or (await registry.scans.repository_scanning(repo)).scan_type
        record = await registry.scans.scan_now(manifest.id, kind)
        if record is None:
            raise click.ClickException(f"{image} disappeared during the scan")
        findings = record.findings()
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "image": f"{repository}@{manifest.digest}",
                        "status": record.status,
                        "description": record.description,
                        "scanType": record.scan_type,
                        "severityCounts": record.severity_counts or {},
                        "findings": [f.to_json() for f in findings],
                    },
                    indent=2,
                )
            )
            return
        click.echo(f"{repository}@{manifest.digest}: {record.status} ({record.scan_type})")
        if record.status != "COMPLETE":
            # No findings here means "not scanned", never "no vulnerabilities".
            click.echo(_not_scanned(record.status, record.description, record.scan_type))
            return
        if findings:
            rows = [("SEVERITY", "VULNERABILITY", "PACKAGE", "VERSION", "FIXED IN", "TYPE")]
            rows += [
                (
                    f.severity,
                    f.vulnerability_id,
                    f.package.name,
                    f.package.version,
                    f.fixed_version or "-",
                    f.package.package_manager,
                )
                for f in findings
            ]
            click.echo(_table(rows))
        counts = record.severity_counts or {}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no vulnerabilities"
        click.echo(f"{len(findings)} findings: {summary}")

    run_with_app(settings, go)


@click.command("sbom")
@storage_options
@click.argument("image")
def sbom(image: str, **kwargs: object) -> None:
    """Print IMAGE's software bill of materials (CycloneDX JSON)."""
    settings = command_settings(**kwargs)
    repository, reference = parse_image(image)

    async def go(app: DockyardApp) -> None:
        from dockyard.features.scanning.sbom import cyclonedx
        from dockyard.features.scanning.service import Unsupported

        registry = app.registry
        manifest = await registry.manifests.get(settings.account_id, repository, reference)
        try:
            inventory, _ = await registry.scans.inventory_of(manifest.id)
        except Unsupported as u:
            raise click.ClickException(u.description) from None
        document = cyclonedx(inventory, name=f"{repository}:{reference}", digest=manifest.digest)
        click.echo(json.dumps(document, indent=2))

    run_with_app(settings, go)
