from __future__ import annotations

import pytest

from prism_ir.domain.severity import Severity
from prism_ir.integrations.sources import alertmanager
from prism_ir.services.config_apply import ConfigError, apply_document, parse_document
from prism_ir.services.ingest_install import ingest_service
from tests.ingest.conftest import am_alert, am_payload

YAML = """
services:
  - id: prism-api
    integrations:
      - {type: alertmanager, key: "${AM_KEY}"}
    default_severity: p3
    severity_rules:
      - {match: {severity: warning, team: dns}, severity: P2}
      - {matchers: ['env=~"staging|dev"'], severity: 4}
    grouping:
      by: [alertname]
      window: 30m
      rules:
        - {name: flappy, match: {alertname: Flappy}, threshold: 3, threshold_window: 10m}
    silences:
      - {id: maint, matchers: ['instance=~"db.*"'], starts_at: "2026-11-30T14:00:00Z",
         ends_at: "2026-11-30T16:00:00Z", comment: upgrade}
"""


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ("severity_rules: [{match: {severity: warning}, severity: P9}]",
         "services[0].severity_rules[0].severity: unknown severity 'P9'"),
        ("severity_rules: [{matchers: ['env=~(']}]", "services[0].severity_rules[0].severity: Field required"),
        ("severity_rules: [{matchers: ['env=~('], severity: P1}]",
         "services[0].severity_rules[0].matchers: [0]: invalid regular expression"),
        ("grouping: {by: [alertname], window: soon}", "services[0].grouping.window: invalid duration 'soon'"),
        ("grouping: {threshold: 0}", "services[0].grouping.threshold: Input should be greater than or equal to 1"),
        ("silences: [{id: s, starts_at: '2026-11-30T14:00:00Z', ends_at: '2026-11-30T13:00:00Z'}]",
         "services[0].silences[0]: ends_at must be after starts_at"),
        ("default_severity: urgent", "services[0].default_severity: unknown severity 'urgent'"),
    ],
)
def test_invalid_sections_name_the_path(snippet: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_document(f"services:\n  - id: s\n    {snippet}\n", env={})
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


async def test_applied_rules_drive_ingestion(container) -> None:
    key = "am-key-0123456789abcdef"
    parsed = parse_document(YAML, env={"AM_KEY": key})
    await apply_document(container.db, container.clock, parsed, "test")
    ingest = ingest_service(container)
    ref = await ingest.authenticate(key)
    assert ref is not None and ref.service_id == "prism-api"
    cfg = await ingest.config("prism-api")
    assert cfg.default_severity is Severity.P3 and [r.name for r in cfg.grouping] == ["flappy", "default"]

    def send(*alerts):
        return ingest.ingest(ref, alertmanager.parse(am_payload(*alerts)))

    r = await send(am_alert(severity="warning", team="dns", instance="a"))
    assert len(r.opened) == 1
    r = await send(am_alert(severity="critical", instance="b"))  # same alertname: grouped
    assert r.attached == 1
    r = await send(am_alert(alertname="Other", severity="unknown-sev", env="dev"))
    assert len(r.opened) == 1
    r = await send(am_alert(alertname="Flappy"))
    assert r.held == 1
    r = await send(am_alert(alertname="Db", instance="db1"))
    assert r.silenced == 1
    incidents, _ = await container.incidents.list(service_id="prism-api")
    assert sorted(i.severity for i in incidents) == [Severity.P2, Severity.P4]
