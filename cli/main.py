"""The ``matf`` command group and its error boundary.

Every failure a user can cause ends in one line on stderr and exit code 2;
test failures end in exit code 1; a clean run in 0.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn

import click

from cli.arguments import (
    DEFAULT_TYPES,
    TYPES,
    WORKERS_HELP,
    choices,
    clean_masks,
    parse_viewport,
    run_limits,
    setup_logging,
)
from cli.interrupts import describe, exit_code, interrupts
from cli.lazy import LazyGroup
from matf.errors import MatfError
from matf.options import Limits, LoginOptions, RenderingOptions, RunOptions, embedded_workers
from matf.settings import load_settings


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matf")
@click.option("-v", "--verbose", is_flag=True, help="Show worker logs on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """MATF explores a web app, writes tests, runs them in real browsers, reports what broke."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


@cli.command()
@click.argument("url")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Suite file to write (JSON).",
)
@click.option("--types", default=DEFAULT_TYPES, show_default=True)
@click.option("--max-pages", type=click.IntRange(1, 10_000), default=None)
@click.option("--max-interactions", type=click.IntRange(0, 1000), default=None, help="As for run.")
@click.option("--max-depth", type=click.IntRange(1, 10), default=None, help="As for run.")
@click.option("--budget", "budgets", multiple=True, metavar="NAME=VALUE", help="As for run.")
@click.option("--mask", "masks", multiple=True, metavar="CSS", help="As for run.")
@click.option("--viewport", "viewports", multiple=True, metavar="WxH", help="As for run.")
@click.pass_context
def write(
    ctx: click.Context,
    url: str,
    output: Path,
    types: str,
    max_pages: int | None,
    max_interactions: int | None,
    max_depth: int | None,
    budgets: tuple[str, ...],
    masks: tuple[str, ...],
    viewports: tuple[str, ...],
) -> None:
    """Explore URL and write test specs to a suite file, without running them."""
    from cli.campaign import write_suite
    from matf.agents.context import parse_budgets
    from matf.agents.writer import WriterOptions

    settings = load_settings()
    setup_logging(settings, ctx.obj["verbose"])
    kinds = choices(types, TYPES, "types")
    settings.check_types(kinds)
    options = WriterOptions(
        budgets=parse_budgets(list(budgets)),
        masks=clean_masks(masks),
        viewports=tuple(parse_viewport(v) for v in viewports),
    )
    limits = Limits.model_validate(
        run_limits(max_pages or settings.max_pages, max_interactions, max_depth)
    )
    count, dropped = write_suite(settings, url, output, kinds, limits.max_pages, options, limits)
    for line in dropped:
        click.echo(f"left out (invalid): {line}", err=True)
    click.echo(f"wrote {count} tests to {output}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--healthy", is_flag=True, help="Serve the demo without its seeded bugs.")
@click.option(
    "--run",
    "run_campaign",
    is_flag=True,
    help="Serve the demo on a free port and run a full campaign against it.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/demo"),
    show_default=True,
    help="Reports, with --run.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help=WORKERS_HELP)
@click.option(
    "--site-version",
    type=click.IntRange(1, 2),
    default=1,
    show_default=True,
    help="Version 2 changes a page's look (a seeded visual regression).",
)
@click.option("--types", default=DEFAULT_TYPES, show_default=True, help="With --run.")
@click.option(
    "--anonymous",
    is_flag=True,
    help="With --run: do not sign in (by default the run signs in as the demo's admin and "
    "user and compares what each may open).",
)
@click.pass_context
def demo(
    ctx: click.Context,
    host: str,
    port: int,
    healthy: bool,
    run_campaign: bool,
    out: Path,
    workers: int | None,
    site_version: int,
    types: str,
    anonymous: bool,
) -> None:
    """Serve the bundled demo shop (with seeded bugs unless --healthy)."""
    from demo.server import DemoServer, serve_forever

    if not run_campaign:
        serve_forever(bugs=not healthy, host=host, port=port, version=site_version)
        return
    from cli.campaign import Campaign
    from cli.demologin import ROLES, demo_accounts, with_key

    settings = load_settings()
    setup_logging(settings, ctx.obj["verbose"])
    kinds = choices(types, TYPES, "types")
    settings = settings if anonymous else with_key(settings)
    # The demo's port changes every time: keep its baselines under one name.
    options = RunOptions(
        limits=Limits(max_pages=settings.max_pages),
        rendering=RenderingOptions(baseline_set=f"matf-demo-{'healthy' if healthy else 'bugs'}"),
        login=LoginOptions(enabled=not anonymous, roles=() if anonymous else ROLES),
    )
    with DemoServer(bugs=not healthy, host=host, port=0, version=site_version) as server:
        click.echo(f"demo site: {server.url} ({'healthy' if healthy else 'with seeded bugs'})")
        if not anonymous:
            click.echo(f"signing in as {' and '.join(ROLES)} (the demo's accounts)")
        with nullcontext() if anonymous else demo_accounts(settings, server.url):
            campaign = Campaign(
                settings,
                server.url,
                out,
                options,
                types=kinds,
                workers=workers or embedded_workers(settings),
                suite=None,
            )
            code = campaign.run()
    ctx.exit(code)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
)
def schema(out: Path) -> None:
    """Write the JSON Schemas of suite files and report.json."""
    from cli.campaign import write_schemas

    for path in write_schemas(out):
        click.echo(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: turn every expected failure into one line and an exit code."""
    try:
        with interrupts():
            code: Any = cli.main(args=argv, prog_name="matf", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.UsageError as exc:
        click.echo(f"matf: error: {exc.format_message()}", err=True)
        code = 2
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click's word for Ctrl-C or a signal
            _stop(exc.__cause__)
        click.echo("matf: interrupted", err=True)
        code = 130
    except MatfError as exc:
        click.echo(f"matf: error: {exc}", err=True)
        code = exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, keep the trace in the log
        logging.getLogger("matf").exception("unexpected error")
        click.echo(
            f"matf: internal error: {type(exc).__name__}: {exc} (details in the log; "
            "run with -v to see it)",
            err=True,
        )
        code = 2
    except KeyboardInterrupt as exc:
        _stop(exc)
    sys.exit(code if isinstance(code, int) else 0)


def _stop(exc: KeyboardInterrupt) -> NoReturn:
    """Leave at once after Ctrl-C, SIGTERM or SIGHUP: one line, exit code 128 + the signal.

    Embedded worker threads would hold the interpreter until their tests end;
    the browsers' drivers exit with us when their pipes close, and take their
    browsers with them. The run was marked ended on the way out (``Campaign``).
    """
    click.echo(f"matf: {describe(exc)}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code(exc))


if __name__ == "__main__":
    main()
