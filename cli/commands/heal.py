"""``matf heal``: review what the healer proposed for tests whose element is gone.

A test that fails because a locator matches nothing gets a proposal: a new
locator, tried by running the test again. Nothing changes until a person
accepts it; then the new locators (and only they) go into the saved suite the
run came from, or into the suite file it was run from.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.campaign import printable
from matf.errors import Conflict, UsageError
from matf.files import write_atomic
from matf.settings import load_settings
from matf.spec import describe_locator, load_suite
from matf.storage.db import get_engine, session_scope
from matf.storage.healing import (
    STATUSES,
    accept,
    apply_changes,
    as_dict,
    changes_of,
    get_proposal,
    list_proposals,
    pending,
    reject,
)
from matf.storage.models import HealingProposal


def _change_text(row: HealingProposal) -> str:
    parts = []
    for change in changes_of(row):
        before, after = describe_locator(change.before), describe_locator(change.after)
        parts.append(
            f"step {change.step + 1} {change.action}: {before} -> {after} ({change.source})"
        )
    return printable("; ".join(parts))


def _line(row: HealingProposal) -> str:
    rerun = "re-run passed" if row.outcome == "passed" else "re-run still failed"
    return (
        f"{row.id}  {row.status:<10} {row.case_id} (run {row.run_id})  {_change_text(row)}; {rerun}"
    )


@click.group("heal")
def heal() -> None:
    """Healing proposals: list, show, accept or reject them."""


@heal.command("list")
@click.option(
    "--status", type=click.Choice([*STATUSES, "all"]), default="pending", show_default=True
)
@click.option("--run", "run_id", default=None, help="Only this run's.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(status: str, run_id: str | None, as_json: bool) -> None:
    """List proposals (pending ones by default), newest first."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url)) as session:
        rows, _total = list_proposals(
            session, run_id, None if status == "all" else status, limit=1000
        )
        for row in rows:
            click.echo(json.dumps(as_dict(row)) if as_json else _line(row))
    if not rows and not as_json:
        click.echo(f"no {'' if status == 'all' else status + ' '}healing proposals")


@heal.command("show")
@click.argument("proposal_id")
def show_command(proposal_id: str) -> None:
    """One proposal: its changes, how the re-run went, and the healed test as JSON."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url)) as session:
        row = get_proposal(session, proposal_id)
        click.echo(_line(row))
        if row.error:
            click.echo(f"  re-run: {printable(row.error)}")
        if row.calls:
            click.echo(
                f"  model: {row.calls} call(s), {row.prompt_tokens} tokens in, "
                f"{row.completion_tokens} out"
            )
        click.echo(json.dumps(row.spec, indent=2, ensure_ascii=True))


@heal.command("accept")
@click.argument("proposal_id")
@click.option(
    "--suite-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The suite file to change [default: the file the run was given, if any].",
)
def accept_command(proposal_id: str, suite_file: Path | None) -> None:
    """Apply a proposal's new locators to the test, and mark it accepted."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url), write=True) as session:
        row = pending(session, proposal_id, "accept")
        path = suite_file or (Path(row.suite_file) if row.suite_file else None)
        if row.suite_id is not None or path is None:
            done = accept(session, proposal_id, "cli")
        else:
            suite = load_suite(path)
            position = next((i for i, t in enumerate(suite.tests) if t.id == row.case_id), None)
            if position is None:
                raise Conflict(f"{path} has no test {row.case_id!r}")
            tests = list(suite.tests)
            tests[position] = apply_changes(tests[position], changes_of(row))
            done = accept(session, proposal_id, "cli", applied_to=f"file {path}")
            healed = suite.model_copy(update={"tests": tests})
            write_atomic(path, healed.model_dump_json(indent=2, exclude_none=True) + "\n")
        click.echo(f"accepted {done.id}: {_change_text(done)} -> {done.applied_to}")


@heal.command("reject")
@click.argument("ids", nargs=-1, required=True)
def reject_command(ids: tuple[str, ...]) -> None:
    """Keep the tests as they are; the proposals are closed."""
    if not ids:
        raise UsageError("name the proposals to reject")
    settings = load_settings()
    with session_scope(get_engine(settings.database_url), write=True) as session:
        for proposal_id in ids:
            done = reject(session, proposal_id, "cli")
            click.echo(f"rejected {done.id}: {done.case_id}")
