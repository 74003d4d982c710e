"""One-click acknowledge: check the signed token, then acknowledge once; a second click changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from prism_ir.domain.incident import Action, Incident
from prism_ir.integrations.notifiers.ack_links import AckClaim, AckTokenError, verify_ack
from prism_ir.services.errors import Conflict, NotFound
from prism_ir.services.incidents import IncidentService


@dataclass(frozen=True)
class AckView:
    claim: AckClaim
    incident: Incident
    done_now: bool = False

    @property
    def actor(self) -> str:
        return self.claim.recipient.removeprefix("user:")


class AckService:
    def __init__(self, incidents: IncidentService, secret: str) -> None:
        self.incidents = incidents
        self.secret = secret

    async def look(self, token: str, now: datetime) -> AckView:
        """Verify and load; raises AckTokenError (tampered, expired, malformed) or NotFound."""
        claim = verify_ack(self.secret, token, now)
        return AckView(claim, await self.incidents.get(claim.incident_id))

    async def acknowledge(self, token: str, now: datetime) -> AckView:
        view = await self.look(token, now)
        if view.incident.acknowledged_at is not None or not view.incident.is_open:
            return view
        try:
            incident = await self.incidents.act(view.claim.incident_id, Action.ACKNOWLEDGE, view.actor,
                                                note="via the acknowledge link in a page")
        except Conflict:  # acknowledged by someone else a moment ago: show their acknowledgement
            return AckView(view.claim, await self.incidents.get(view.claim.incident_id))
        return AckView(view.claim, incident, done_now=True)


__all__ = ["AckService", "AckTokenError", "AckView", "NotFound"]
