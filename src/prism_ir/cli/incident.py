"""`prism-ir incident …`: list, show and act on incidents through the server."""

from __future__ import annotations

from typing import Any

import typer

from prism_ir.cli.client import api
from prism_ir.cli.common import print_json, print_table

app = typer.Typer(help="Act on incidents through the server (PRISM_IR_URL, PRISM_IR_API_KEY).", no_args_is_help=True)
COLUMNS = ["id", "severity", "status", "title", "service_id", "lead", "created_at"]


def _age(inc: dict[str, Any]) -> dict[str, Any]:
    return {**inc, "created_at": str(inc["created_at"])[:19].replace("T", " ")}


@app.command("list")
def list_(
    status: list[str] = typer.Option([], "--status", help="repeatable"),
    severity: list[str] = typer.Option([], "--severity", help="repeatable"),
    service: str | None = typer.Option(None, "--service"),
    open_only: bool = typer.Option(False, "--open", help="only open incidents"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    params: dict[str, Any] = {"status": status, "severity": severity, "limit": limit}
    if service:
        params["service"] = service
    if open_only:
        params["open"] = "true"
    data = api("GET", "/api/v1/incidents", params=params)
    if as_json:
        print_json(data)
    else:
        print_table([_age(i) for i in data["items"]], COLUMNS, title=f"{data['total']} incident(s)")


@app.command("show")
def show(incident_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    inc = api("GET", f"/api/v1/incidents/{incident_id}")
    timeline = api("GET", f"/api/v1/incidents/{incident_id}/timeline")["items"]
    if as_json:
        print_json({**inc, "timeline": timeline})
        return
    typer.echo(f"#{inc['id']} [{inc['severity']}] {inc['title']}  — {inc['status']}")
    for key in ("service_id", "lead", "impact", "created_at", "acknowledged_at", "resolved_at"):
        if inc.get(key):
            typer.echo(f"  {key}: {inc[key]}")
    print_table(
        [{**e, "at": str(e["at"])[:19].replace("T", " ")} for e in timeline],
        ["at", "kind", "actor", "message"],
        title="timeline",
    )


@app.command("create")
def create(
    title: str = typer.Option(..., "--title"),
    severity: str = typer.Option(..., "--severity", help="P1–P4"),
    service: str | None = typer.Option(None, "--service"),
    impact: str = typer.Option("", "--impact"),
    lead: str | None = typer.Option(None, "--lead"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    body = {"title": title, "severity": severity.upper(), "service_id": service, "impact": impact, "lead": lead}
    _done(api("POST", "/api/v1/incidents", json=body), "created", as_json)


@app.command("ack")
def ack(incident_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    _done(api("POST", f"/api/v1/incidents/{incident_id}/acknowledge"), "acknowledged", as_json)


@app.command("acknowledge", hidden=True)
def acknowledge(incident_id: int, as_json: bool = typer.Option(False, "--json")) -> None:
    ack(incident_id, as_json)


@app.command("resolve")
def resolve(
    incident_id: int, note: str = typer.Option("", "--note"), as_json: bool = typer.Option(False, "--json")
) -> None:
    _done(api("POST", f"/api/v1/incidents/{incident_id}/resolve", json={"note": note}), "resolved", as_json)


@app.command("escalate")
def escalate(
    incident_id: int, note: str = typer.Option("", "--note"), as_json: bool = typer.Option(False, "--json")
) -> None:
    _done(api("POST", f"/api/v1/incidents/{incident_id}/escalate", json={"note": note}), "escalated", as_json)


def _done(inc: dict[str, Any], verb: str, as_json: bool) -> None:
    if as_json:
        print_json(inc)
    else:
        typer.echo(f"#{inc['id']} [{inc['severity']}] {inc['title']}: {verb} (status {inc['status']})")
