"""`prism-ir oncall`: who is primary and secondary now (or --at), and the pre-flight contact check."""

from __future__ import annotations

from typing import Any

import typer

from prism_ir.cli.client import api
from prism_ir.cli.common import fail, print_json, print_table

app = typer.Typer(help="On-call schedules through the server (PRISM_IR_URL, PRISM_IR_API_KEY).")


@app.callback(invoke_without_command=True)
def who(
    ctx: typer.Context,
    at: str | None = typer.Option(None, "--at", help="ISO time with zone, e.g. 2026-12-24T10:00Z"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show who is on call for every schedule and role."""
    if ctx.invoked_subcommand is not None:
        return
    data = api("GET", "/api/v1/oncall", params={"at": at} if at else {})
    if as_json:
        print_json(data)
        return
    rows = [{**r, "user": r["user"] or "NOBODY", "until": str(r["until"] or "")[:16].replace("T", " ")}
            for r in data["on_call"]]
    print_table(rows, ["schedule", "role", "user", "name", "until"], title=f"On call at {str(data['at'])[:19]}")


@app.command()
def preflight(days: int = typer.Option(14, "--days"), as_json: bool = typer.Option(False, "--json")) -> None:
    """List schedule slots and policy steps whose target has no working contact method (exit 1 if any)."""
    data: dict[str, Any] = api("GET", "/api/v1/oncall/preflight", params={"days": days})
    if as_json:
        print_json(data)
    elif data["ok"]:
        typer.echo(f"ok: every slot in the next {days} days and every policy step can reach someone")
    else:
        rows = [{"where": f"{p.get('schedule') or p.get('policy')} "
                 f"{p.get('role') or 'step ' + str(p.get('step'))}",
                 "who": p.get("user") or p.get("target"), "when": str(p.get("start") or "")[:16],
                 "problem": p["problem"]} for p in data["problems"]]
        print_table(rows, ["where", "who", "when", "problem"], title=f"{len(rows)} problem(s)")
    if not data["ok"]:
        fail("pre-flight found problems", code=1)
