from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import Svc, am_alert, am_payload
from tests.ingest.test_integrations_api import bearer, counts

json_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
             | st.text(max_size=20))
json_any = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                        max_size=4), max_leaves=12)
labels = st.dictionaries(st.sampled_from(["alertname", "instance", "severity", "job", "x"]),
                         st.text(max_size=6) | json_leaf, max_size=4)


def mutate(base: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    body: Any = orjson.loads(orjson.dumps(base))
    target = body
    for p in path[:-1]:
        target = target[int(p)] if isinstance(target, list) else target[p]
    target[path[-1] if isinstance(target, dict) else int(path[-1])] = value
    return body


AM_PATHS = [["alerts"], ["version"], ["alerts", "0"], ["alerts", "0", "status"], ["alerts", "0", "labels"],
            ["alerts", "0", "startsAt"], ["alerts", "0", "annotations"], ["alerts", "1", "fingerprint"]]
EV_PATHS = [["routing_key"], ["event_action"], ["dedup_key"], ["payload"], ["payload", "summary"],
            ["payload", "severity"], ["payload", "timestamp"], ["payload", "custom_details"], ["links"], ["images"]]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
OK = {200, 202, 400, 413, 429}


async def check(anon_client: httpx.AsyncClient, svc: Svc, url: str, content: bytes, headers: dict[str, str]) -> None:
    before = await counts(svc)
    r = await anon_client.post(url, content=content, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code in OK, (r.status_code, r.text)
    if r.status_code >= 300:
        assert await counts(svc) == before


@FUZZ
@given(path=st.sampled_from(AM_PATHS), value=json_any | labels, raw=st.none() | st.binary(max_size=40))
async def test_fuzz_alertmanager(anon_client: httpx.AsyncClient, svc: Svc, path, value, raw) -> None:
    base = am_payload(am_alert(instance="a"), am_alert(instance="b"))
    content = raw if raw is not None else orjson.dumps(mutate(base, path, value))
    await check(anon_client, svc, "/api/v1/integrations/alertmanager", content, bearer(svc.keys["alertmanager"]))


@FUZZ
@given(path=st.sampled_from(EV_PATHS), value=json_any, raw=st.none() | st.binary(max_size=40))
async def test_fuzz_events_v2(anon_client: httpx.AsyncClient, svc: Svc, path, value, raw) -> None:
    base = {"routing_key": svc.keys["events_v2"], "event_action": "trigger", "dedup_key": "d",
            "payload": {"summary": "s", "source": "h", "severity": "info"}, "links": [], "images": []}
    content = raw if raw is not None else orjson.dumps(mutate(base, path, value))
    await check(anon_client, svc, "/v2/enqueue", content, {})


@FUZZ
@given(body=json_any | st.fixed_dictionaries({"title": json_any, "status": json_any, "labels": labels,
                                              "dedup_key": json_any}))
async def test_fuzz_webhook(anon_client: httpx.AsyncClient, svc: Svc, body) -> None:
    await check(anon_client, svc, "/api/v1/integrations/webhook", orjson.dumps(body), bearer(svc.keys["webhook"]))
