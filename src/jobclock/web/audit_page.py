"""The portal's audit page: every write, newest first, for an admin."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from jobclock.api.access import audit_json
from jobclock.web.portal import Portal

PAGE_SIZE = 50


async def audit(portal: Portal, request: Request) -> Response:
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    identity = request.query_params.get("identity") or None
    entries = await portal.access.audit_page(before_id=before, top=PAGE_SIZE, identity=identity)
    older = entries[-1].id if len(entries) == PAGE_SIZE else None
    return portal.render(
        request,
        "audit.html",
        entries=[audit_json(e) for e in entries],
        older=older,
        filter_identity=identity or "",
    )
