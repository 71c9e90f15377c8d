"""What the hub keeps of its servers over time, beyond their current row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from orchestratia.hub.db.models import Base, _created, _tenant

# ``servers.status`` of a server its owners removed: kept for the sessions and tasks that name
# it, hidden everywhere else, and brought back only by registering the same machine again.
SERVER_REMOVED = "removed"


class ServerSample(Base):
    """One reading of a server's load, from its heartbeat's ``system_info``: the history the
    server page charts. At most one a minute per server, pruned with the recordings."""

    __tablename__ = "server_samples"
    __table_args__ = (Index("ix_server_samples_server_created", "server_id", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant()
    server_id: Mapped[str] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = _created()
    cpu_percent: Mapped[float | None] = mapped_column(Float, default=None)
    memory_percent: Mapped[float | None] = mapped_column(Float, default=None)
    disk_percent: Mapped[float | None] = mapped_column(Float, default=None)
    load1: Mapped[float | None] = mapped_column(Float, default=None)
