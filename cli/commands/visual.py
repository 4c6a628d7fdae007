"""``matf baselines`` and ``matf budgets``: review visual changes, set performance budgets.

A visual check that finds a change fails its test and leaves a pending
candidate; a person approves it (it becomes the baseline) or rejects it (the
baseline stands). Budgets saved for a target apply to every run against it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from matf.errors import UsageError
from matf.settings import Settings, load_settings
from matf.storage.baselines import STATUSES, approve, as_dict, list_baselines, reject
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Baseline


def _root(settings: Settings) -> Path:
    return Path(settings.storage_path) / "baselines"


def _line(row: Baseline) -> str:
    change = f" {row.ratio:.2%} changed" if row.ratio is not None else ""
    run = f" run {row.run_id}" if row.run_id else ""
    return f"{row.id:>5}  {row.status:<10} {row.key}{change}{run}"


@click.group("baselines")
def baselines() -> None:
    """Visual baselines: list them, approve or reject pending changes."""


@baselines.command("list")
@click.option(
    "--status",
    type=click.Choice([*STATUSES, "all"]),
    default="pending",
    show_default=True,
)
@click.option("--run", "run_id", default=None, help="Only this run's.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(status: str, run_id: str | None, as_json: bool) -> None:
    """List baselines (pending changes by default)."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url)) as session:
        rows = list_baselines(session, None if status == "all" else status, run_id)
        for row in rows:
            if as_json:
                click.echo(json.dumps(_as_dict(row, _root(settings))))
            else:
                click.echo(_line(row))
    if not rows and not as_json:
        click.echo(f"no {'' if status == 'all' else status + ' '}baselines")


def _as_dict(row: Baseline, root: Path) -> dict[str, object]:
    return {
        **as_dict(row),
        "image": str(root / row.image),
        "diff": str(root / row.diff) if row.diff else None,
    }


def _decide(ids: tuple[int, ...], run_id: str | None, verb: str) -> None:
    if not ids and run_id is None:
        raise UsageError(f"name the baselines to {verb}: their ids, or --run RUN_ID")
    settings = load_settings()
    root = _root(settings)
    act = approve if verb == "approve" else reject
    with session_scope(get_engine(settings.database_url), write=True) as session:
        chosen = list(ids) or [row.id for row in list_baselines(session, "pending", run_id)]
        if not chosen:
            raise UsageError(f"run {run_id} has no pending baselines")
        done = [act(session, baseline_id, root, "cli") for baseline_id in chosen]
        for row in done:
            click.echo(f"{verb}d {row.id}: {row.key}")


@baselines.command("approve")
@click.argument("ids", nargs=-1, type=int)
@click.option("--run", "run_id", default=None, help="Every pending change of this run.")
def approve_command(ids: tuple[int, ...], run_id: str | None) -> None:
    """Make pending captures the new baselines."""
    _decide(ids, run_id, "approve")


@baselines.command("reject")
@click.argument("ids", nargs=-1, type=int)
@click.option("--run", "run_id", default=None, help="Every pending change of this run.")
def reject_command(ids: tuple[int, ...], run_id: str | None) -> None:
    """Keep the current baselines; the pending captures are deleted."""
    _decide(ids, run_id, "reject")


@click.command("budgets")
@click.argument("url")
@click.option("--set", "items", multiple=True, metavar="NAME=VALUE", help="Repeatable.")
@click.option("--clear", is_flag=True, help="Forget the target's budgets (use the defaults).")
def budgets(url: str, items: tuple[str, ...], clear: bool) -> None:
    """Show or set the performance budgets of the target at URL."""
    from matf.agents.context import parse_budgets, save_budgets, stored_budgets, validate_url
    from matf.spec import Budgets

    url = validate_url(url)
    if clear and items:
        raise UsageError("--clear and --set do not go together")
    settings = load_settings()
    with session_scope(get_engine(settings.database_url), write=bool(items or clear)) as session:
        if clear:
            save_budgets(session, url, None)
        elif items:
            save_budgets(
                session, url, {**stored_budgets(session, url), **parse_budgets(list(items))}
            )
        saved = stored_budgets(session, url)
    effective = Budgets.model_validate(saved).model_dump()
    for name, value in effective.items():
        origin = "target" if name in saved else "default"
        shown = "off" if value is None else f"{value:g}"
        click.echo(f"{name:<12} {shown:<8} ({origin})")
