"""What a check found: findings with a kind, a severity and whether `--repair` may fix them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

ERROR = "error"  # the database and the store disagree: something is missing, corrupt or dangling
RECLAIMABLE = "reclaimable"  # housekeeping not yet done (orphans past grace, stale sessions)


@dataclass
class Finding:
    kind: str  # e.g. "blob.missing", see `KINDS`
    severity: str
    subject: str  # what it is about: a digest, a storage key, an upload id, repository:tag
    detail: str
    repairable: bool = False
    repaired: bool = False
    size: int = 0  # bytes involved, when known
    handle: Any = field(default=None, repr=False)  # what `--repair` acts on (not reported)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "handle"}


# What each kind means, and what `--repair` does about it (None: not repairable).
KINDS: dict[str, tuple[str, str | None]] = {
    "database.integrity": ("the database's own integrity check failed", None),
    "blob.missing": ("a blob row names bytes the store does not hold", None),
    "blob.size": ("a blob's stored size differs from its row", None),
    "blob.corrupt": ("a blob's bytes do not hash to its digest", None),
    "manifest.digest": ("a manifest's stored bytes do not hash to its digest", None),
    "manifest.blob_missing": ("a manifest references a blob with no row", None),
    "manifest.child_missing": ("an index references a manifest its repository does not hold", None),
    "manifest.image_size": ("a manifest's recorded image size differs from its layers' sizes", None),
    "tag.dangling": (
        "a tag row names a manifest that does not exist (or is in another repository)",
        "delete the tag row (it resolves to nothing already)",
    ),
    "upload.bytes_missing": (
        "an upload session records more bytes than the store holds for it",
        "end the session (row and bytes): it was never acknowledged, the client starts again",
    ),
    "upload.stale": (
        "an upload session untouched for longer than the upload age limit",
        "end the session, as the purge-uploads job does",
    ),
    "store.orphan": (
        "stored bytes no row names, older than the grace period",
        "delete them, as garbage collection's orphan sweep does",
    ),
    "gc.tombstone": (
        "a blob garbage collection removed whose bytes are not yet deleted",
        "delete the bytes and the tombstone, as the next garbage collection would",
    ),
}


@dataclass
class FsckReport:
    findings: list[Finding] = field(default_factory=list)
    # Counts of what was looked at (blobs, stored items, manifests, tags, uploads...).
    checked: dict[str, int] = field(default_factory=dict)
    # Per repository: images, tags, blobs linked and their bytes.
    repositories: dict[str, dict[str, int]] = field(default_factory=dict)
    unnamed_young: int = 0  # stored items no row names yet, within the grace period (normal)
    repaired: bool = False

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def count(self, name: str, n: int = 1) -> None:
        self.checked[name] = self.checked.get(name, 0) + n

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR and not f.repaired]

    @property
    def reclaimable(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == RECLAIMABLE and not f.repaired]

    @property
    def clean(self) -> bool:
        """No error left (reclaimable housekeeping is not an inconsistency)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "errors": len(self.errors),
            "reclaimable": len(self.reclaimable),
            "repaired": sum(1 for f in self.findings if f.repaired),
            "unnamed_young": self.unnamed_young,
            "checked": self.checked,
            "repositories": self.repositories,
            "findings": [f.as_dict() for f in self.findings],
        }

    def text(self) -> list[str]:
        """The human report, one line each."""
        lines = [f"checked: {', '.join(f'{n} {what}' for what, n in self.checked.items())}"]
        for finding in self.findings:
            state = "REPAIRED" if finding.repaired else finding.severity.upper()
            lines.append(f"{state:<11} {finding.kind:<22} {finding.subject}: {finding.detail}")
        for kind in sorted({f.kind for f in self.findings if not f.repaired}):
            meaning, repair = KINDS[kind]
            fix = f"--repair: {repair}" if repair else "not repairable here"
            lines.append(f"  {kind}: {meaning} ({fix})")
        if self.unnamed_young:
            lines.append(
                f"{self.unnamed_young} stored items no row names yet are within the grace period "
                "(uploads in flight, or orphans the sweep will reclaim later)"
            )
        verdict = "clean" if self.clean else f"{len(self.errors)} problems"
        extra = f", {len(self.reclaimable)} reclaimable" if self.reclaimable else ""
        repaired = sum(1 for f in self.findings if f.repaired)
        lines.append(f"{verdict}{extra}" + (f", {repaired} repaired" if repaired else ""))
        return lines
