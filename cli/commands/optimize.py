"""``matf optimize``: what history says about flaky, failing and slow tests; review quarantines.

``run`` analyses the last HISTORICAL_DATA_DAYS of runs now (the scheduled job
does the same every OPTIMIZER_INTERVAL), stores the analysis and updates the
quarantine proposals. Nothing is quarantined until a person accepts a
proposal; then the test still runs, but its failure no longer fails its suite.
"""

from __future__ import annotations

import json
from typing import Any

import click

from cli.campaign import printable
from matf.agents.optimizer import scheduled_analysis
from matf.errors import UsageError
from matf.settings import load_settings
from matf.storage.db import get_engine, session_scope
from matf.storage.models import QuarantineProposal
from matf.storage.optimizer import STATUSES, as_dict, decide, latest_analysis, list_proposals


def _test(entry: dict[str, Any]) -> str:
    suite = f" [{entry['suite_id']}]" if entry.get("suite_id") else ""
    return printable(f"{entry['case_id']} ({entry['browser']}){suite}")


def _line(row: QuarantineProposal) -> str:
    return printable(
        f"{row.id}  {row.status:<9} score {row.score:.2f}  {row.case_id} ({row.browser})"
        f" [{row.suite_id or '-'}]  {row.reason}"
    )


@click.group("optimize")
def optimize() -> None:
    """The test optimizer: flaky and slow tests, run order, quarantine proposals."""


@optimize.command("run")
@click.option("--days", type=click.IntRange(1, 3650), default=None, help="History to read.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Score from which a quarantine is proposed.",
)
@click.option("--json", "as_json", is_flag=True, help="The job's detail as JSON.")
def run_command(days: int | None, threshold: float | None, as_json: bool) -> None:
    """Analyse the history now, store the analysis and update the proposals."""
    overrides: dict[str, object] = {}
    if days is not None:
        overrides["historical_data_days"] = days
    if threshold is not None:
        overrides["optimization_threshold"] = threshold
    settings = load_settings(**overrides)
    detail = scheduled_analysis(get_engine(settings.database_url), settings)
    if as_json:
        click.echo(json.dumps(detail))
        return
    click.echo(
        f"analysis {detail['analysis_id']}: {detail['runs']} runs, {detail['tests']} tests "
        f"in {detail['seconds']:.2f} s: {detail['flaky']} flaky, "
        f"{detail['stable_failures']} always failing, {detail['clusters']} co-failing clusters"
    )
    click.echo(
        f"quarantine proposals: {detail['proposals_new']} new, "
        f"{detail['proposals_updated']} updated, {detail['proposals_withdrawn']} withdrawn"
    )


@optimize.command("list")
@click.option(
    "--status", type=click.Choice([*STATUSES, "all"]), default="pending", show_default=True
)
@click.option("--top", type=click.IntRange(0, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Proposals, one JSON object per line.")
def list_command(status: str, top: int, as_json: bool) -> None:
    """Quarantine proposals, then the latest analysis's flakiest and slowest tests."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url)) as session:
        rows, _total = list_proposals(session, None if status == "all" else status, limit=1000)
        latest = latest_analysis(session)
        if as_json:
            for row in rows:
                click.echo(json.dumps(as_dict(row)))
            return
        for row in rows:
            click.echo(_line(row))
    if not rows:
        click.echo(f"no {'' if status == 'all' else status + ' '}quarantine proposals")
    if latest is None:
        click.echo("no analysis yet: 'matf optimize run' makes one")
        return
    click.echo(
        f"analysis {latest.id} of {latest.created_at:%Y-%m-%d %H:%M} UTC "
        f"({latest.days} days, {latest.summary.get('runs', 0)} runs):"
    )
    click.echo("flakiest:")
    for entry in latest.findings.get("flakiest", [])[:top]:
        click.echo(
            f"  {entry['score']:.2f}  {_test(entry)}: flip rate {entry['flip_rate']:.2f}, "
            f"{entry['flaky_runs']} passed on retry, over {entry['runs']} runs"
        )
    click.echo("slowest:")
    for entry in latest.findings.get("slowest", [])[:top]:
        click.echo(
            f"  p50 {entry['p50_ms'] / 1000:.1f} s  p95 {entry['p95_ms'] / 1000:.1f} s  "
            f"{_test(entry)}: {entry['trend']}"
        )
    for number, cluster in enumerate(latest.findings.get("clusters", [])[:top], 1):
        members = ", ".join(_test(m) for m in cluster["members"])
        click.echo(f"cluster {number}: {members}: together in {cluster['co_failing_runs']} runs")
        shared = [cause for cause in cluster.get("signatures", []) if cause.get("shared")]
        if shared:
            click.echo(printable(f"  shared cause: {shared[0]['title']} [{shared[0]['id']}]"))


def _decide(ids: tuple[str, ...], accept: bool) -> None:
    if not ids:
        raise UsageError("name the proposals")
    settings = load_settings()
    engine = get_engine(settings.database_url)
    for proposal_id in ids:  # one transaction each: what is printed is what was decided
        with session_scope(engine, write=True) as session:
            done = decide(session, proposal_id, accept, "cli")
            where = f" -> quarantined in {done.applied_to}" if done.applied_to else ""
            click.echo(f"{done.status} {done.id}: {printable(done.case_id)}{where}")


@optimize.command("accept")
@click.argument("ids", nargs=-1, required=True)
def accept_command(ids: tuple[str, ...]) -> None:
    """Quarantine the tests in their saved suites: they run, but cannot fail it."""
    _decide(ids, True)


@optimize.command("reject")
@click.argument("ids", nargs=-1, required=True)
def reject_command(ids: tuple[str, ...]) -> None:
    """Keep the tests counting; not proposed again unless their score rises clearly."""
    _decide(ids, False)
