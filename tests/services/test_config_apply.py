"""`prism-ir apply`: validation names the place, nothing half-applied, applying twice changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from prism_ir.bootstrap import Container
from prism_ir.services.config_apply import ConfigError, apply_document, parse_document
from prism_ir.store.tables import AuditRow, IntegrationRow, ServiceRow, UserRow

GOOD = """
users:
  - {id: alice, name: Alice Ops, email: alice@example.com, time_zone: Europe/Berlin}
services:
  - id: prism-api
    name: Prism API
    integrations:
      - {type: alertmanager, key: "${AM_KEY}"}
      - {type: events_v2}
    runbooks: [IR-001]
"""


async def _count(c: Container, table: type) -> int:
    async with c.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


async def test_apply_twice_changes_nothing(container: Container) -> None:
    env = {"AM_KEY": "am-key-0123456789abcdef"}
    first = await apply_document(container.db, container.clock, parse_document(GOOD, env), "test")
    assert "service prism-api: saved" in first.changes and "user alice: saved" in first.changes
    assert len(first.issued_keys) == 1 and first.issued_keys[0].startswith("prism-api events_v2: pik_")
    audits = await _count(container, AuditRow)
    second = await apply_document(container.db, container.clock, parse_document(GOOD, env), "test")
    assert second.changes == [] and second.issued_keys == []
    assert await _count(container, AuditRow) == audits
    assert await _count(container, IntegrationRow) == 2
    async with container.db.read() as s:
        keys = list((await s.execute(select(IntegrationRow.key_hash))).scalars())
    assert "am-key-0123456789abcdef" not in keys  # stored hashed
    assert (await container.catalog.find_integration("am-key-0123456789abcdef", "alertmanager")) is not None


async def test_changed_field_updates_and_is_audited(container: Container) -> None:
    env = {"AM_KEY": "am-key-0123456789abcdef"}
    await apply_document(container.db, container.clock, parse_document(GOOD, env), "test")
    changed = GOOD.replace("name: Prism API", "name: Prism Public API")
    ctx = await apply_document(container.db, container.clock, parse_document(changed, env), "ops")
    assert ctx.changes == ["service prism-api: saved"]
    assert (await container.catalog.get_service("prism-api"))["name"] == "Prism Public API"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "services:\n  - {id: a, integrations: [{type: alertmanager}, {type: foo}]}",
            "services[0].integrations[1].type: unknown type 'foo'",
        ),
        ("services:\n  - {id: Bad Id}", "services[0].id: invalid id 'Bad Id'"),
        ("users:\n  - {id: bob, time_zone: Mars/Olympus}", "users[0].time_zone: unknown time zone 'Mars/Olympus'"),
        (
            "services:\n  - {id: a, integrations: [{type: alertmanager, key: '${NOPE}'}]}",
            "services[0].integrations[0].key: environment variable NOPE is not set",
        ),
        ("servicez: []", "servicez: unknown section"),
        ("services: [", "invalid YAML"),
        ("services:\n  - {id: a, colour: blue}", "services[0].colour: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_name_the_place(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_document(text, {})
    assert any(problem in p for p in exc.value.problems), exc.value.problems


async def test_a_failing_section_changes_nothing(container: Container) -> None:
    text = GOOD + "  - {id: prism-api, name: duplicate}\n"
    with pytest.raises(ConfigError) as exc:
        await apply_document(container.db, container.clock, parse_document(text, {"AM_KEY": "x" * 20}), "t")
    assert "services[1].id: duplicate service id 'prism-api'" in exc.value.problems[0]
    assert await _count(container, ServiceRow) == 0
    assert await _count(container, UserRow) == 0
    assert await _count(container, AuditRow) == 0
