"""What a page says: the incident in a few lines, a link to it, and a signed one-click acknowledge link."""

from __future__ import annotations

from datetime import datetime, timedelta

from prism_ir.domain.incident import Incident
from prism_ir.integrations.notifiers.ack_links import sign_ack
from prism_ir.integrations.notifiers.base import Message


def build_message(*, key: str, incident: Incident, step: int, cycle: int, target: str, recipient: str,
                  recipient_name: str, base_url: str, secret: str, now: datetime, ttl: timedelta) -> Message:
    assert incident.id is not None
    base = base_url.rstrip("/")
    token = sign_ack(secret, incident.id, recipient, now, ttl, notification=key)
    ack_url = f"{base}/ack/{token}"
    incident_url = f"{base}/incidents/{incident.id}"
    when = "" if step == 0 and cycle == 0 else f" (escalation step {step + 1}{f', repeat {cycle}' if cycle else ''})"
    subject = f"[{incident.severity}] #{incident.id} {incident.title}{when}"
    lines = [
        f"{incident.severity} – {incident.severity.info.name}: {incident.title}",
        f"Incident #{incident.id}, status {incident.status}, opened {incident.created_at:%Y-%m-%d %H:%M} UTC",
    ]
    if incident.service_id:
        lines.append(f"Service: {incident.service_id}")
    if incident.summary:
        lines.append(incident.summary)
    lines += [f"You are paged as {target} ({recipient_name}).", "", f"Incident: {incident_url}"]
    return Message(key=key, subject=subject, body="\n".join(lines), incident_id=incident.id,
                   severity=str(incident.severity), title=incident.title, ack_url=ack_url,
                   incident_url=incident_url, recipient=recipient,
                   extra={"status": str(incident.status), "step": step + 1, "repeat": cycle, "target": target})
