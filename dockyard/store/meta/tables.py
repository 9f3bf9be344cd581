"""The metadata schema: the single source of truth for what exists.

Blob bytes live in a blob store; every fact about them (which repository may
read which blob, manifests, tags, uploads) lives here, so listing, deleting and
garbage collection are queries, never walks of storage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def bytewise_string(length: int) -> sa.types.TypeEngine[str]:
    """A string that sorts by byte value everywhere, as OCI tag and catalog listing require."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def now() -> datetime:
    return datetime.now(UTC)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("alias", sa.String(128), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("registry_policy", sa.Text, nullable=True),
    sa.Column("replication_configuration", sa.JSON, nullable=True),
    sa.Column("scanning_configuration", sa.JSON, nullable=True),
)

# IAM-style users; every account has a root user (name "root") that may do everything in it.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # AIDA... unique id, as IAM's aws:userid
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("path", sa.String(512), nullable=False, server_default="/"),
    sa.Column("is_root", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_users_account_name"),
)

# Access keys. The secret is kept because SigV4 verification recomputes the HMAC with it.
access_keys = sa.Table(
    "access_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # AKIA...
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="Active"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_access_keys_user", "user_id"),
)

# Per-account settings (PutAccountSetting: BLOB_MOUNTING, REGISTRY_POLICY_SCOPE, ...).
account_settings = sa.Table(
    "account_settings",
    metadata,
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

repository_creation_templates = sa.Table(
    "repository_creation_templates",
    metadata,
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("prefix", sa.String(256), primary_key=True),
    sa.Column("description", sa.String(256), nullable=True),
    sa.Column("encryption_configuration", sa.JSON, nullable=True),
    sa.Column("resource_tags", sa.JSON, nullable=True),
    sa.Column("image_tag_mutability", sa.String(32), nullable=True),
    sa.Column("image_tag_mutability_exclusion_filters", sa.JSON, nullable=True),
    sa.Column("repository_policy", sa.Text, nullable=True),
    sa.Column("lifecycle_policy", sa.Text, nullable=True),
    sa.Column("applied_for", sa.JSON, nullable=False),
    sa.Column("custom_role_arn", sa.String(2048), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

repositories = sa.Table(
    "repositories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", bytewise_string(256), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("tag_mutability", sa.String(32), nullable=False, server_default="MUTABLE"),
    sa.Column("tag_mutability_exclusions", sa.JSON, nullable=True),
    sa.Column("scan_on_push", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("encryption_type", sa.String(16), nullable=False, server_default="AES256"),
    sa.Column("kms_key", sa.String(2048), nullable=True),
    sa.Column("policy", sa.Text, nullable=True),
    sa.Column("lifecycle_policy", sa.Text, nullable=True),
    sa.Column("lifecycle_evaluated_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("account_id", "name", name="uq_repositories_account_name"),
)

# Resource tags of repositories (TagResource / ListTagsForResource).
repository_tags = sa.Table(
    "repository_tags",
    metadata,
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)

# Content-addressed blobs: one row (and one stored copy) per digest.
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Where the blob store keeps the bytes (a CAS path on disk, an object key in S3).
    sa.Column("storage_key", sa.String(512), nullable=False),
)

# Which repository may read which blob (pushed into it or mounted).
repository_blobs = sa.Table(
    "repository_blobs",
    metadata,
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("digest", sa.String(200), sa.ForeignKey("blobs.digest"), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Touched by every manifest push that references the blob, inside the push's transaction:
    # garbage collection only removes links untouched for a grace period (see features/gc).
    sa.Column("referenced_at", UTCDateTime, nullable=True),
    sa.Index("ix_repository_blobs_digest", "digest"),
)

manifests = sa.Table(
    "manifests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("digest", sa.String(200), nullable=False),
    sa.Column("media_type", sa.String(255), nullable=False),
    sa.Column("artifact_type", sa.String(255), nullable=True),
    sa.Column("config_media_type", sa.String(255), nullable=True),
    sa.Column("subject_digest", sa.String(200), nullable=True),
    sa.Column("annotations", sa.JSON, nullable=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
    # Sum of the blob sizes the manifest references (what ECR reports as imageSizeInBytes).
    sa.Column("image_size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("pushed_at", UTCDateTime, nullable=False),
    sa.Column("last_pulled_at", UTCDateTime, nullable=True),
    # ECR's archival storage class: STANDARD or ARCHIVE (archived images cannot be pulled).
    sa.Column("storage_class", sa.String(16), nullable=False, server_default="STANDARD"),
    sa.Column("archived_at", UTCDateTime, nullable=True),
    sa.Column("activated_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("repository_id", "digest", name="uq_manifests_repository_digest"),
    sa.Index("ix_manifests_subject", "repository_id", "subject_digest"),
)

# Blobs a manifest references (config + layers): what keeps them alive, and what must exist.
manifest_blobs = sa.Table(
    "manifest_blobs",
    metadata,
    sa.Column("manifest_id", sa.Integer, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("digest", sa.String(200), primary_key=True),
    sa.Index("ix_manifest_blobs_digest", "digest"),
)

# Manifests an index references.
manifest_children = sa.Table(
    "manifest_children",
    metadata,
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("repository_id", sa.Integer, nullable=False),
    sa.Column("child_digest", sa.String(200), primary_key=True),
    sa.Index("ix_manifest_children_child", "repository_id", "child_digest"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("name", bytewise_string(128), primary_key=True),
    sa.Column("manifest_id", sa.Integer, sa.ForeignKey("manifests.id", ondelete="CASCADE"), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_tags_manifest", "manifest_id"),
)

# Blob upload sessions; bytes live in the blob store under the same id.
uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("algorithm", sa.String(16), nullable=False, server_default="sha256"),
    sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The blob store's own record of the session (S3 multipart id and parts), so any node can continue it.
    sa.Column("store_state", sa.JSON, nullable=True),
)

# Durable background work (scans, lifecycle, GC, replication), claimed by any node.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed
    # Only one queued-or-running job per key (a repository's lifecycle run, an image's scan...).
    sa.Column("unique_key", sa.String(512), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False, server_default="5"),
    sa.Column("run_after", UTCDateTime, nullable=False),
    sa.Column("locked_by", sa.String(128), nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_jobs_claim", "status", "run_after"),
    sa.Index(
        "uq_jobs_active_unique_key",
        "unique_key",
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'running')"),
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    ),
)

# Named leases: at most one holder at a time (singleton workers such as GC), expiring if it dies.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# Server-wide key/value settings (signing keys, account settings...).
settings = sa.Table(
    "settings",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# One counter per named cache (dockyard.store.meta.cache), raised by every write that changes
# what the cache holds, so other processes know to drop their copies.
cache_generations = sa.Table(
    "cache_generations",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("generation", sa.BigInteger, nullable=False),
)


# Identity policies of users (inline documents; managed ones are attached as copies by name).
user_policies = sa.Table(
    "user_policies",
    metadata,
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)

# The one lifecycle policy preview a repository may have (StartLifecyclePolicyPreview).
lifecycle_previews = sa.Table(
    "lifecycle_previews",
    metadata,
    sa.Column(
        "repository_id", sa.Integer, sa.ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("status", sa.String(16), nullable=False),  # IN_PROGRESS, COMPLETE, EXPIRED, FAILED
    sa.Column("policy_text", sa.Text, nullable=False),
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("summary", sa.JSON, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
)

# Blobs whose rows garbage collection removed and whose bytes it still has to delete.
blob_tombstones = sa.Table(
    "blob_tombstones",
    metadata,
    sa.Column("storage_key", sa.String(512), primary_key=True),
    sa.Column("digest", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Principals whose pulls do not update lastRecordedPullTime (RegisterPullTimeUpdateExclusion).
pull_time_exclusions = sa.Table(
    "pull_time_exclusions",
    metadata,
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("principal_arn", sa.String(2048), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# IAM-style groups: users get the identity policies of every group they belong to.
iam_groups = sa.Table(
    "iam_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(12), sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "name", name="uq_iam_groups_account_name"),
)

iam_group_members = sa.Table(
    "iam_group_members",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Index("ix_iam_group_members_user", "user_id"),
)

iam_group_policies = sa.Table(
    "iam_group_policies",
    metadata,
    sa.Column("group_id", sa.Integer, sa.ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("document", sa.Text, nullable=False),
)


# --- image scanning -------------------------------------------------------------------
# The offline vulnerability database: OSV records as imported (`dockyard vulndb import`).
vuln_advisories = sa.Table(
    "vuln_advisories",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),  # OSV id: DEBIAN-CVE-..., GHSA-..., GO-...
    sa.Column("modified", UTCDateTime, nullable=True),
    sa.Column("published", UTCDateTime, nullable=True),
    sa.Column("summary", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=True),
    sa.Column("aliases", sa.JSON, nullable=True),
    sa.Column("upstream", sa.JSON, nullable=True),
    sa.Column("related", sa.JSON, nullable=True),
    sa.Column("severity", sa.JSON, nullable=True),  # OSV severity[]: CVSS vectors, distro priorities
    sa.Column("references", sa.JSON, nullable=True),
    sa.Column("database_specific", sa.JSON, nullable=True),
    sa.Column("source", sa.String(128), nullable=False),  # which import brought it (vuln_sources.name)
)

# One row per affected[] entry, keyed the way the matcher looks packages up.
vuln_affected = sa.Table(
    "vuln_affected",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "advisory_id",
        sa.String(128),
        sa.ForeignKey("vuln_advisories.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("ecosystem", sa.String(128), nullable=False),  # exact: "Debian:12", "Alpine:v3.19", "PyPI"
    sa.Column("package_name", sa.String(512), nullable=False),  # normalised (PEP 503 for PyPI)
    sa.Column("ranges", sa.JSON, nullable=True),
    sa.Column("versions", sa.JSON, nullable=True),
    sa.Column("ecosystem_specific", sa.JSON, nullable=True),
    sa.Column("database_specific", sa.JSON, nullable=True),
    sa.Column("severity", sa.JSON, nullable=True),
    sa.Index("ix_vuln_affected_package", "ecosystem", "package_name"),
    sa.Index("ix_vuln_affected_advisory", "advisory_id"),
)

# What was imported and when: vulnerabilitySourceUpdatedAt is the newest imported_at.
vuln_sources = sa.Table(
    "vuln_sources",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),  # "osv:Debian", "alpine-secdb:v3.19"
    sa.Column("imported_at", UTCDateTime, nullable=False),
    sa.Column("records", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sha256", sa.String(64), nullable=True),  # of the input, to skip re-imports
    sa.Column("detail", sa.JSON, nullable=True),
)

# Per-layer analysis results, shared by every image that has the layer.
scan_layers = sa.Table(
    "scan_layers",
    metadata,
    sa.Column("digest", sa.String(200), primary_key=True),  # the (compressed) layer blob digest
    sa.Column("analyzer_version", sa.Integer, primary_key=True),
    sa.Column("diff_id", sa.String(200), nullable=True),
    sa.Column("result", sa.JSON, nullable=False),
    sa.Column("analyzed_at", UTCDateTime, nullable=False),
)

# The scan state of one image manifest: status, stored inventory, current findings.
image_scans = sa.Table(
    "image_scans",
    metadata,
    sa.Column("manifest_id", sa.Integer, sa.ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),  # ECR ScanStatus
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("scan_type", sa.String(16), nullable=False, server_default="BASIC"),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("manual_scan_at", UTCDateTime, nullable=True),  # last StartImageScan (once per 24 h)
    sa.Column("completed_at", UTCDateTime, nullable=True),
    sa.Column("vulndb_updated_at", UTCDateTime, nullable=True),
    sa.Column("inventory", sa.JSON, nullable=True),
    sa.Column("findings", sa.JSON, nullable=True),
    sa.Column("severity_counts", sa.JSON, nullable=True),
    sa.Column("first_observed", sa.JSON, nullable=True),  # finding key -> first time seen
)
