"""login budgets: the failed-login throttle moves from replica memory into the database

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_budgets",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "window_started_at",
            orchestratia.hub.db.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_login_budgets")),
    )
    with op.batch_alter_table("login_budgets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_login_budgets_window_started_at"), ["window_started_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_budgets_window_started_at"))
    op.drop_table("login_budgets")
