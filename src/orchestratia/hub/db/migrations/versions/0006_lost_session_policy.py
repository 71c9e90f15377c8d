"""lost session policy: the project setting, the task's lost-session flag, server disconnect time

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 07:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lost_session_policy",
                sa.String(length=16),
                nullable=False,
                server_default="requeue",
            )
        )
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("disconnected_at", orchestratia.hub.db.types.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lost_session_id", sa.String(length=36), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_lost_session_id_sessions"),
            "sessions",
            ["lost_session_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tasks_lost_session_id_sessions"), type_="foreignkey"
        )
        batch_op.drop_column("lost_session_id")
    with op.batch_alter_table("servers", schema=None) as batch_op:
        batch_op.drop_column("disconnected_at")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("lost_session_policy")
