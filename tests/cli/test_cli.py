"""The CLI as an operator uses it: keys on the database, incidents through a running server."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from prism_ir.cli.main import app
from prism_ir.config import Settings
from tests.support import LiveServer, lifecycle

runner = CliRunner()


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PRISM_IR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PRISM_IR_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PRISM_IR_SECRET_KEY", settings.secret_key)
    return settings


def invoke(*args: str) -> dict | list | str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "--json" in args else result.output


def test_keys_and_incident_lifecycle_through_the_server(env: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("db", "upgrade")
    key = invoke("keys", "create", "oncall-laptop", "--role", "responder", "--json")
    assert isinstance(key, dict) and key["role"] == "responder" and key["key"].startswith("pir_")

    with LiveServer(env) as server:
        monkeypatch.setenv("PRISM_IR_URL", server.url)
        monkeypatch.setenv("PRISM_IR_API_KEY", key["key"])
        inc = invoke("incident", "create", "--title", "API down", "--severity", "p1", "--json")
        assert isinstance(inc, dict) and inc["status"] == "triggered"
        out = invoke("incident", "ack", str(inc["id"]))
        assert "acknowledged" in out
        resolved = invoke("incident", "resolve", str(inc["id"]), "--note", "restarted", "--json")
        assert isinstance(resolved, dict) and resolved["status"] == "resolved"
        shown = invoke("incident", "show", str(inc["id"]), "--json")
        assert isinstance(shown, dict)
        steps = lifecycle(shown["timeline"])
        assert [e["kind"] for e in steps] == ["triggered", "acknowledged", "resolved"]
        assert all(e["actor"] == "key:oncall-laptop" for e in steps)
        table = invoke("incident", "list")
        assert "API down" in str(table) and "resolved" in str(table)

        bad = runner.invoke(app, ["incident", "resolve", str(inc["id"])])
        assert bad.exit_code == 1 and "409" in bad.output and "already resolved" in bad.output

        invoke("keys", "revoke", "oncall-laptop")
        denied = runner.invoke(app, ["incident", "list"])
        assert denied.exit_code == 1 and "401" in denied.output


def test_apply_reports_errors_and_changes_nothing(env: Settings, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "services:\n  - id: prism-api\n    integrations:\n      - {type: alertmanager}\n      - {type: foo}\n"
    )
    result = runner.invoke(app, ["apply", str(bad)])
    assert result.exit_code == 2
    assert "services[0].integrations[1].type: unknown type 'foo'" in result.output
    good = tmp_path / "good.yaml"
    good.write_text("services:\n  - {id: prism-api, name: Prism API}\n")
    assert "service prism-api: saved" in invoke("apply", str(good))
    assert "no changes" in invoke("apply", str(good))


def test_demo_loads_once_and_prints_a_working_key(env: Settings) -> None:
    first = invoke("demo", "--json")
    assert isinstance(first, dict) and first["incidents_added"] > 20
    second = invoke("demo", "--json")
    assert isinstance(second, dict) and second["incidents_added"] == 0 and second["admin_key"] != first["admin_key"]
