"""The `prism-ir` command."""

from __future__ import annotations

from pathlib import Path

import typer

from prism_ir.cli import incident, integrations, keys, oncall, worker
from prism_ir.cli.common import fail, print_json, with_container
from prism_ir.config import Settings

app = typer.Typer(
    help="Prism IR — incident response: alerts, paging, escalation, reviews.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database administration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(incident.app, name="incident")
app.add_typer(oncall.app, name="oncall")
app.command("worker")(worker.worker)
app.add_typer(integrations.app, name="integrations")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest version."""
    from prism_ir.store.migrate import upgrade

    url = Settings().resolved_database_url()
    upgrade(url)
    typer.echo(f"database is up to date ({url.split('@')[-1]})")


@app.command()
def serve(
    host: str = typer.Option(None, "--host", help="default PRISM_IR_HOST or 127.0.0.1"),
    port: int = typer.Option(None, "--port", help="default PRISM_IR_PORT or 8090"),
    no_worker: bool = typer.Option(False, "--no-worker", help="serve UI and API only; run `prism-ir worker` apart"),
) -> None:
    """Run the web UI, the API and (unless --no-worker) the worker in one process."""
    import uvicorn

    from prism_ir.bootstrap import build_container
    from prism_ir.store.migrate import upgrade
    from prism_ir.web.app import create_app

    settings = Settings()
    upgrade(settings.resolved_database_url())
    container = build_container(settings)
    if not no_worker:
        start = container.extras.get("start_worker")
        if start is not None:
            container.background.append(start)
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"Prism IR on http://{host}:{port}  (API docs: /docs, database: {container.db.dialect})")
    uvicorn.run(create_app(container), host=host, port=port, log_level="info", access_log=False)


@app.command()
def demo(as_json: bool = typer.Option(False, "--json")) -> None:
    """Load demo services, people and incidents (once), and print a fresh admin API key."""
    from prism_ir.demo.load import load_demo
    from prism_ir.store.migrate import upgrade

    upgrade(Settings().resolved_database_url())
    result = with_container(load_demo)
    if as_json:
        print_json(result)
        return
    typer.echo(result["message"])
    typer.echo(f"admin API key (X-API-Key, also logs into the UI): {result['admin_key']}")


@app.command()
def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate only"),
) -> None:
    """Apply a declarative YAML file (services, users, schedules, policies, …): all or nothing, idempotent."""
    from prism_ir.services.config_apply import ConfigError, apply_document, parse_document
    from prism_ir.store.migrate import upgrade

    try:
        parsed = parse_document(file.read_text())
    except ConfigError as exc:
        fail(f"{file} is invalid, nothing was changed:\n" + "\n".join(f"  {p}" for p in exc.problems), code=2)
        return
    if dry_run:
        typer.echo(f"{file}: valid ({', '.join(parsed) or 'empty'})")
        return
    upgrade(Settings().resolved_database_url())
    try:
        ctx = with_container(lambda c: apply_document(c.db, c.clock, parsed, actor=f"apply:{file.name}"))
    except ConfigError as exc:
        fail(f"{file} could not be applied, nothing was changed:\n" + "\n".join(f"  {p}" for p in exc.problems),
             code=2)
        return
    for change in ctx.changes:
        typer.echo(change)
    if not ctx.changes:
        typer.echo("no changes")
    for key in ctx.issued_keys:
        typer.echo(f"new integration key (store it now): {key}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
