"""inbox decisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 13:17:59.511835
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "inbox_decisions",
        sa.Column("decision_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=320), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "created_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_inbox_decisions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_inbox_decisions")),
    )
    with op.batch_alter_table("inbox_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_decisions_item_id"), ["item_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_inbox_decisions_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("inbox_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_decisions_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_inbox_decisions_item_id"))

    op.drop_table("inbox_decisions")
