"""The web pages at `/` and `/status` and their assets, all served by the gateway (no CDN:
intranets have no internet)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from fastapi.responses import FileResponse

STATIC_DIR = FilePath(__file__).resolve().parent.parent / "static"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Model and user text must never run as code; the page never builds HTML from it, and this policy
# blocks inline scripts and foreign origins should that ever regress.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files that change with each release: revalidate rather than serve a stale page.
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _asset(name: str) -> FileResponse:
    path = STATIC_DIR / name
    media_type = MEDIA_TYPES.get(path.suffix)
    # Only plain files directly in static/ with a known type: no traversal, no directory listing.
    if media_type is None or path.parent != STATIC_DIR or not path.is_file():
        raise HTTPException(404, f"no asset named {name!r}")
    return FileResponse(path, media_type=media_type, headers=PAGE_HEADERS)


@router.get("/")
async def index() -> FileResponse:
    return _asset("index.html")


@router.get("/status")
async def status_page() -> FileResponse:
    """The operators' page: workers, queues and the last 15 minutes (its data: GET /v1/status)."""
    return _asset("status.html")


@router.get("/docs")
async def docs() -> FileResponse:
    """The API's interactive docs (Swagger UI), served by the gateway like the page."""
    return _asset("docs.html")


@router.get("/docs/assets/{name}")
async def docs_asset(name: Annotated[str, Path(pattern=r"^swagger-ui(-bundle\.js|\.css)$")]) -> FileResponse:
    """Swagger UI's own files, from the `fastapi-offline` package: nothing from the internet."""
    path = FilePath(str(importlib.resources.files("fastapi_offline") / "static" / name))
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=PAGE_HEADERS)


@router.get("/static/{name}")
async def asset(name: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]+\.[a-z]+$")]) -> FileResponse:
    return _asset(name)
