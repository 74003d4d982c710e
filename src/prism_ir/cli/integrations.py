"""`prism-ir integrations`: issue and list the keys alert sources use (admin, works on the database directly)."""

from __future__ import annotations

import typer
from sqlalchemy import select

from prism_ir.bootstrap import Container
from prism_ir.cli.common import print_json, with_container
from prism_ir.services.catalog import INTEGRATION_TYPES
from prism_ir.services.errors import ServiceError
from prism_ir.store.tables import IntegrationRow

app = typer.Typer(help="Integration keys for Alertmanager, Events v2 and the generic webhook.", no_args_is_help=True)


@app.command("create")
def create(
    service: str = typer.Option(..., "--service", help="service id"),
    type_: str = typer.Option(..., "--type", help=f"one of {', '.join(INTEGRATION_TYPES)}"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue a new integration key; it is shown once, only its hash is stored."""

    async def go(c: Container) -> tuple[int, str]:
        issued = await c.catalog.create_integration_key(service, type_, "cli")
        return issued.id, issued.key

    try:
        key_id, key = with_container(go)
    except ServiceError as exc:
        typer.echo(f"error: {exc.field + ': ' if exc.field else ''}{exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        print_json({"id": key_id, "service": service, "type": type_, "key": key})
    else:
        typer.echo(f"{type_} integration {key_id} for {service}: {key}\n(store it now: it is not shown again)")


@app.command("list")
def list_integrations(as_json: bool = typer.Option(False, "--json")) -> None:
    """List integrations (prefixes only, never keys)."""

    async def load(c: Container) -> list[dict[str, object]]:
        async with c.db.read() as s:
            rows = (await s.execute(select(IntegrationRow).order_by(IntegrationRow.service_id, IntegrationRow.id)))
            return [{"id": r.id, "service": r.service_id, "type": r.type, "prefix": r.key_prefix,
                     "revoked": r.revoked_at is not None} for r in rows.scalars()]

    items = with_container(load)
    if as_json:
        print_json(items)
        return
    for item in items:
        typer.echo(f"{item['id']:>4}  {item['service']:<20} {item['type']:<13} {item['prefix']}"
                   + ("  (revoked)" if item["revoked"] else ""))
