"""What makes the dashboard an installable app (SPEC §9): the web app manifest, and the service
worker at the root of the site so its scope covers every page. Both are public: the browser
fetches them without credentials, and neither holds anything of a user."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

STATIC = Path(__file__).parent / "static"

# The brand colour of the icon: it reads on a light and a dark system theme alike (the pages set
# their own per-scheme theme-color meta tags, which browsers prefer while a page is open).
BRAND = "#5b8cff"

MANIFEST = {
    "name": "Orchestratia",
    "short_name": "Orchestratia",
    "description": "Mission control for coding agents on your servers.",
    "id": "/",
    "start_url": "/",
    "scope": "/",
    "display": "standalone",
    "theme_color": BRAND,
    "background_color": BRAND,
    "icons": [
        {"src": f"/static/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ]
    + [{"src": "/static/favicon.svg", "sizes": "any", "type": "image/svg+xml"}],
}

router = APIRouter(include_in_schema=False)


@router.get("/manifest.webmanifest")
async def manifest() -> JSONResponse:
    return JSONResponse(
        MANIFEST,
        media_type="application/manifest+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/sw.js")
async def service_worker() -> FileResponse:
    """Served from the root, not /static, so it may control every page; never cached by the HTTP
    cache, so a new version of the hub replaces the worker on the next visit."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )
