"""image scanning

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "scan_layers",
        sa.Column("digest", sa.String(length=200), nullable=False),
        sa.Column("analyzer_version", sa.Integer(), nullable=False),
        sa.Column("diff_id", sa.String(length=200), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("analyzed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", "analyzer_version", name=op.f("pk_scan_layers")),
    )
    op.create_table(
        "vuln_advisories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("aliases", sa.JSON(), nullable=True),
        sa.Column("upstream", sa.JSON(), nullable=True),
        sa.Column("related", sa.JSON(), nullable=True),
        sa.Column("severity", sa.JSON(), nullable=True),
        sa.Column("references", sa.JSON(), nullable=True),
        sa.Column("database_specific", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_advisories")),
    )
    op.create_table(
        "vuln_sources",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vuln_sources")),
    )
    op.create_table(
        "vuln_affected",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=False),
        sa.Column("package_name", sa.String(length=512), nullable=False),
        sa.Column("ranges", sa.JSON(), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=True),
        sa.Column("ecosystem_specific", sa.JSON(), nullable=True),
        sa.Column("database_specific", sa.JSON(), nullable=True),
        sa.Column("severity", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["vuln_advisories.id"],
            name=op.f("fk_vuln_affected_advisory_id_vuln_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_affected")),
    )
    with op.batch_alter_table("vuln_affected", schema=None) as batch_op:
        batch_op.create_index("ix_vuln_affected_advisory", ["advisory_id"], unique=False)
        batch_op.create_index("ix_vuln_affected_package", ["ecosystem", "package_name"], unique=False)

    op.create_table(
        "image_scans",
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("scan_type", sa.String(length=16), server_default="BASIC", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("manual_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vulndb_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inventory", sa.JSON(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.Column("severity_counts", sa.JSON(), nullable=True),
        sa.Column("first_observed", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_image_scans_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("manifest_id", name=op.f("pk_image_scans")),
    )


def downgrade() -> None:

    op.drop_table("image_scans")
    with op.batch_alter_table("vuln_affected", schema=None) as batch_op:
        batch_op.drop_index("ix_vuln_affected_package")
        batch_op.drop_index("ix_vuln_affected_advisory")

    op.drop_table("vuln_affected")
    op.drop_table("vuln_sources")
    op.drop_table("vuln_advisories")
    op.drop_table("scan_layers")
