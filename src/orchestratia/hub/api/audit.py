"""The audit log (tenant admins: the whole tenant; project owners: their projects) and its
exports, and the export of a project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from orchestratia.hub.api.deps import HubDep, PrincipalDep, SessionDep
from orchestratia.hub.api.scopes import needs
from orchestratia.hub.db.types import utcnow
from orchestratia.hub.services import audit_export, audit_log, project_export
from orchestratia.protocol.audit import AuditExportQuery, AuditPage, AuditQuery, ProjectExport

# Who did what, from where: as sensitive as the membership it is about (``admin``).
router = APIRouter(tags=["audit"], dependencies=[needs("admin")])


def attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/api/v1/audit")
async def list_events(
    q: Annotated[AuditQuery, Query()], principal: PrincipalDep, db: SessionDep, hub: HubDep
) -> AuditPage:
    return await audit_log.page(db, principal, q, hub.secret_key)


@router.get(
    "/api/v1/audit/export",
    response_class=StreamingResponse,
    responses={200: {"content": {m: {} for m in audit_export.MEDIA_TYPES.values()}}},
)
async def export_events(
    q: Annotated[AuditExportQuery, Query()], principal: PrincipalDep, db: SessionDep, hub: HubDep
) -> StreamingResponse:
    filters = q.filters()
    scope = await audit_log.export_scope(db, principal, filters)
    batches = audit_log.stream(hub.sessionmaker, scope, filters)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        audit_export.render(batches, q.format),
        media_type=audit_export.MEDIA_TYPES[q.format],
        headers=attachment(f"audit-{stamp}.{q.format}"),
    )


@router.get("/api/v1/projects/{project_id}/export", response_model=ProjectExport)
async def export_project(project_id: str, principal: PrincipalDep, db: SessionDep) -> JSONResponse:
    document = await project_export.for_principal(db, principal, project_id)
    return JSONResponse(
        document.model_dump(mode="json"),
        headers=attachment(f"project-{document.project['id']}.json"),
    )
