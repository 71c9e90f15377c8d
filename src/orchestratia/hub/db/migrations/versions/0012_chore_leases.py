"""chore leases: background chores run by one hub replica at a time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chore_leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column(
            "lease_until", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "next_run_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("last_run_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chore_leases")),
    )


def downgrade() -> None:
    op.drop_table("chore_leases")
