"""Alert sources: each parses its wire format into AlertIn. PARSERS is the one parser per source, used both to
answer a request and to re-read it from the intake journal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prism_ir.domain.alert import AlertIn
from prism_ir.integrations.sources import alertmanager, events_v2, webhook


def _events_v2(body: Any) -> list[AlertIn]:
    return [events_v2.parse(body).alert]


PARSERS: dict[str, Callable[[Any], list[AlertIn]]] = {
    "alertmanager": alertmanager.parse, "events_v2": _events_v2, "webhook": webhook.parse,
}
