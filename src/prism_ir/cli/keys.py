"""`prism-ir keys`: API keys, created, rotated and revoked on the database directly."""

from __future__ import annotations

import typer

from prism_ir.bootstrap import Container
from prism_ir.cli.common import fail, print_json, print_table, with_container
from prism_ir.services.auth import Role, parse_role
from prism_ir.services.errors import ServiceError

app = typer.Typer(help="Manage API keys (shown once; only hashes are stored).", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="what the key is for, e.g. 'grafana' or 'alice-laptop'"),
    role: str = typer.Option("responder", "--role", help="viewer, responder or admin"),
    user: str | None = typer.Option(None, "--user", help="tie the key to a user so actions are theirs"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    try:
        parsed = parse_role(role)
        issued = with_container(lambda c: c.auth.create_key(name, parsed, user_id=user))
    except ServiceError as exc:
        fail(exc.message)
        return
    _show(issued.id, issued.name, issued.role, issued.key, as_json)


@app.command("rotate")
def rotate(
    ident: str = typer.Argument(..., help="key id or name"), as_json: bool = typer.Option(False, "--json")
) -> None:
    try:
        issued = with_container(lambda c: c.auth.rotate_key(ident))
    except ServiceError as exc:
        fail(exc.message)
        return
    _show(issued.id, issued.name, issued.role, issued.key, as_json)


@app.command("revoke")
def revoke(
    ident: str = typer.Argument(..., help="key id or name"), as_json: bool = typer.Option(False, "--json")
) -> None:
    try:
        key_id = with_container(lambda c: c.auth.revoke_key(ident))
    except ServiceError as exc:
        fail(exc.message)
        return
    if as_json:
        print_json({"id": key_id, "revoked": True})
    else:
        typer.echo(f"revoked key {key_id}")


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json")) -> None:
    async def load(c: Container) -> list[dict[str, object]]:
        return [
            {
                "id": r.id,
                "name": r.name,
                "role": r.role,
                "prefix": r.prefix,
                "created_at": r.created_at,
                "revoked_at": r.revoked_at,
            }
            for r in await c.auth.list_keys()
        ]

    rows = with_container(load)
    if as_json:
        print_json(rows)
    else:
        print_table(rows, ["id", "name", "role", "prefix", "created_at", "revoked_at"], title="API keys")


def _show(key_id: int, name: str, role: Role, key: str, as_json: bool) -> None:
    if as_json:
        print_json({"id": key_id, "name": name, "role": str(role), "key": key})
    else:
        typer.echo(f"key {key_id} ({name}, {role}) — store it now, it is not shown again:\n{key}")
