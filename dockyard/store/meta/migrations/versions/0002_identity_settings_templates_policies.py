"""identity, settings, templates, policies

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
        "account_settings",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_account_settings_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_account_settings")),
    )
    op.create_table(
        "repository_creation_templates",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("prefix", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=True),
        sa.Column("encryption_configuration", sa.JSON(), nullable=True),
        sa.Column("resource_tags", sa.JSON(), nullable=True),
        sa.Column("image_tag_mutability", sa.String(length=32), nullable=True),
        sa.Column("image_tag_mutability_exclusion_filters", sa.JSON(), nullable=True),
        sa.Column("repository_policy", sa.Text(), nullable=True),
        sa.Column("lifecycle_policy", sa.Text(), nullable=True),
        sa.Column("applied_for", sa.JSON(), nullable=False),
        sa.Column("custom_role_arn", sa.String(length=2048), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_repository_creation_templates_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "prefix", name=op.f("pk_repository_creation_templates")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), server_default="/", nullable=False),
        sa.Column("is_root", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_users_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("account_id", "name", name="uq_users_account_name"),
    )
    op.create_table(
        "access_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="Active", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_access_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_keys")),
    )
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.create_index("ix_access_keys_user", ["user_id"], unique=False)

    op.create_table(
        "repository_tags",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repositories.id"],
            name=op.f("fk_repository_tags_repository_id_repositories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "key", name=op.f("pk_repository_tags")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registry_policy", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("replication_configuration", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("scanning_configuration", sa.JSON(), nullable=True))

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lifecycle_policy", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lifecycle_evaluated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("repositories", schema=None) as batch_op:
        batch_op.drop_column("lifecycle_evaluated_at")
        batch_op.drop_column("lifecycle_policy")
        batch_op.drop_column("policy")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("scanning_configuration")
        batch_op.drop_column("replication_configuration")
        batch_op.drop_column("registry_policy")

    op.drop_table("repository_tags")
    with op.batch_alter_table("access_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_access_keys_user")

    op.drop_table("access_keys")
    op.drop_table("users")
    op.drop_table("repository_creation_templates")
    op.drop_table("account_settings")
