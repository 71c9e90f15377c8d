"""approvals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 12:49:02.108859
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import orchestratia.hub.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approval_rules_version", sa.Integer(), server_default="0", nullable=False)
        )

    op.create_table(
        "permission_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=256), nullable=False),
        sa.Column("tool_input", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("matched_rule_id", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_permission_decisions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_permission_decisions_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_permission_decisions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permission_decisions")),
        sa.UniqueConstraint(
            "server_id", "entry_id", name=op.f("uq_permission_decisions_server_id")
        ),
    )
    with op.batch_alter_table("permission_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_permission_decisions_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_permission_decisions_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "approval_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("tool_pattern", sa.String(length=1000), nullable=False),
        sa.Column("param_pattern", sa.String(length=2000), nullable=True),
        sa.Column("pattern_syntax", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.String(length=36), nullable=True),
        sa.Column("agent_filter", sa.JSON(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column(
            "expires_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column(
            "created_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "updated_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_approval_rules_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_approval_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval_rules")),
    )
    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_approval_rules_tenant_active", ["tenant_id", "is_active"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_approval_rules_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("server_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("tool", sa.String(length=256), nullable=False),
        sa.Column("main_param", sa.Text(), nullable=True),
        sa.Column("tool_input", sa.JSON(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision_id", sa.String(length=64), nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "decided_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "expires_at", orchestratia.hub.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tool_approvals_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_tool_approvals_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_tool_approvals_session_id_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_tool_approvals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_approvals")),
    )
    with op.batch_alter_table("tool_approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tool_approvals_tenant_id"), ["tenant_id"], unique=False
        )
        batch_op.create_index(
            "ix_tool_approvals_tenant_status", ["tenant_id", "status"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("tool_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_approvals_tenant_status")
        batch_op.drop_index(batch_op.f("ix_tool_approvals_tenant_id"))

    op.drop_table("tool_approvals")
    with op.batch_alter_table("approval_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_rules_tenant_id"))
        batch_op.drop_index("ix_approval_rules_tenant_active")

    op.drop_table("approval_rules")
    with op.batch_alter_table("permission_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_permission_decisions_tenant_id"))
        batch_op.drop_index("ix_permission_decisions_project_created")

    op.drop_table("permission_decisions")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("approval_rules_version")
