"""Alert sources: each parses its wire format into AlertIn; PARSERS re-reads a journaled request by source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prism_ir.domain.alert import AlertIn


def _events_v2(body: Any) -> list[AlertIn]:
    from prism_ir.integrations.sources import events_v2

    return [events_v2.parse(body).alert]


def _alertmanager(body: Any) -> list[AlertIn]:
    from prism_ir.integrations.sources import alertmanager

    return alertmanager.parse(body)


def _webhook(body: Any) -> list[AlertIn]:
    from prism_ir.integrations.sources import webhook

    return webhook.parse(body)


PARSERS: dict[str, Callable[[Any], list[AlertIn]]] = {
    "alertmanager": _alertmanager, "events_v2": _events_v2, "webhook": _webhook,
}
