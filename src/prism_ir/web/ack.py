"""`/ack/{token}`: GET shows a confirmation page (mail scanners pre-fetch GETs), its button POSTs to acknowledge."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from prism_ir.bootstrap import Container
from prism_ir.services.errors import NotFound
from prism_ir.services.escalation_ack import AckService, AckTokenError, AckView
from prism_ir.web.deps import get_container

router = APIRouter(tags=["ack"], include_in_schema=False)
Ctr = Annotated[Container, Depends(get_container)]

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">
<title>{title}</title><style>body{{font:16px system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}}
button{{font-size:1.1rem;padding:.7rem 1.4rem;border:0;border-radius:.4rem;background:#b91c1c;color:#fff}}
.muted{{color:#555}}</style></head><body><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def _summary(view: AckView) -> str:
    i = view.incident
    return (f"<p><strong>[{escape(str(i.severity))}] #{i.id} {escape(i.title)}</strong></p>"
            f"<p class=muted>Status: {escape(str(i.status))}. Opened {i.created_at:%Y-%m-%d %H:%M} UTC.</p>")


def _settled(view: AckView) -> HTMLResponse | None:
    i = view.incident
    if not i.is_open:
        return _page("Already resolved", _summary(view) + f"<p>Resolved by {escape(i.resolved_by or '?')}. "
                     "Nothing to do.</p>")
    if i.acknowledged_at is not None:
        return _page("Already acknowledged", _summary(view) + f"<p>Acknowledged by {escape(i.acknowledged_by or '?')}"
                     f" at {i.acknowledged_at:%H:%M} UTC. Nothing changed.</p>")
    return None


def _refused(exc: Exception) -> HTMLResponse:
    if isinstance(exc, AckTokenError):
        return _page("Link not valid", f"<p>{escape(str(exc))}.</p><p>Acknowledge in Prism IR or with "
                     "<code>prism-ir incident ack ID</code>.</p>", 410 if exc.reason == "expired" else 400)
    return _page("Incident not found", "<p>This incident no longer exists.</p>", 404)


def _service(c: Container) -> AckService:
    return AckService(c.incidents, c.secret_key)


@router.get("/ack/{token}")
async def confirm(token: str, c: Ctr) -> HTMLResponse:
    try:
        view = await _service(c).look(token, c.clock.now())
    except (AckTokenError, NotFound) as exc:
        return _refused(exc)
    settled = _settled(view)
    if settled is not None:
        return settled
    return _page("Acknowledge this incident?", _summary(view) + f"<form method=post action=\"/ack/{escape(token)}\">"
                 "<button type=submit>Acknowledge</button></form><p class=muted>Acknowledging stops further pages "
                 "to the primary on-call for this incident.</p>")


@router.post("/ack/{token}")
async def acknowledge(token: str, c: Ctr) -> HTMLResponse:
    try:
        view = await _service(c).acknowledge(token, c.clock.now())
    except (AckTokenError, NotFound) as exc:
        return _refused(exc)
    if view.done_now:
        return _page("Acknowledged", _summary(view) + f"<p>Thank you, {escape(view.actor)}. Paging has stopped for "
                     "the acknowledged steps; the incident is yours.</p>")
    return _settled(view) or _page("Acknowledged", _summary(view))
