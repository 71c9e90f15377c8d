"""mission control: per-user browser notifications, paused assignment, server load history

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:33:54.347430
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_samples",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column(
            "created_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("memory_percent", sa.Float(), nullable=True),
        sa.Column("disk_percent", sa.Float(), nullable=True),
        sa.Column("load1", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_server_samples_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_server_samples_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_samples")),
    )
    with op.batch_alter_table("server_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_server_samples_server_created", ["server_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_server_samples_tenant_id"), ["tenant_id"], unique=False
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "assignment_paused_at",
                orchestratia.hub.db.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "browser_notifications", sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("browser_notifications")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("assignment_paused_at")

    with op.batch_alter_table("server_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_samples_tenant_id"))
        batch_op.drop_index("ix_server_samples_server_created")

    op.drop_table("server_samples")
