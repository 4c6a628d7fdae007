"""The ``matf`` command group and its error boundary.

Every failure a user can cause ends in one line on stderr and exit code 2;
test failures end in exit code 1; a clean run in 0.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click
from pydantic import ValidationError

from cli.interrupts import describe, exit_code, interrupts
from cli.lazy import LazyGroup
from matf.errors import MatfError, UsageError
from matf.options import (
    MAX_DEPTH,
    MAX_INTERACTIONS,
    REPORT_FORMATS,
    Limits,
    RenderingOptions,
    RunOptions,
    embedded_workers,
)
from matf.settings import Settings, load_settings

TYPES = ("functional", "accessibility", "performance", "visual", "api")
DEFAULT_TYPES = "functional,accessibility"
BROWSERS = ("chromium", "firefox", "webkit")
WORKERS_HELP = (
    "Concurrent executors in embedded mode. Default: chosen from the machine, one per two "
    "usable cores as far as memory allows (about 0.5 GiB a browser); "
    "override with --workers N or MATF_EMBEDDED_WORKERS=N."
)


def _limits(max_pages: int, max_interactions: int | None, max_depth: int | None) -> dict[str, int]:
    """A run's limits as given; what is not given keeps ``Limits``' default."""
    given = {"max_interactions": max_interactions, "max_depth": max_depth}
    return {"max_pages": max_pages, **{k: v for k, v in given.items() if v is not None}}


def _csv(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [item.strip().lower() for item in value.split(",") if item.strip()]
    if not items:
        raise UsageError(f"--{what} needs at least one of: {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise UsageError(f"unknown {what[:-1]} {item!r}: choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def _setup_logging(settings: Settings, verbose: bool) -> None:
    """Celery and Playwright log a lot: keep it in a file unless asked for it."""
    root = logging.getLogger()
    root.handlers.clear()
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        log_dir = Path(settings.storage_path).parent
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_dir / "matf.log", encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.log_level)


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
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("matf-report"),
    show_default=True,
    help="Where reports go.",
)
@click.option(
    "--formats",
    default=None,
    metavar="LIST",
    help=f"Reports to write: any of {', '.join(REPORT_FORMATS)} (report.html, report.json, "
    "junit.xml, report.pdf); json is always written, the run's summary reads it "
    "[default: all four].",
)
@click.option(
    "--types",
    default=None,
    help="Any of functional, accessibility, performance, visual, api "
    f"[default: {DEFAULT_TYPES}; with --suite, every type the suite has].",
)
@click.option(
    "--browsers", default="chromium", show_default=True, help="Any of chromium, firefox, webkit."
)
@click.option(
    "--max-pages",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Pages to explore (default 25).",
)
@click.option(
    "--max-interactions",
    type=click.IntRange(0, 1000),
    default=None,
    help=f"Clicks per page on what reveals more: dialogs, menus, tabs (default {MAX_INTERACTIONS}; "
    "0: none).",
)
@click.option(
    "--max-depth",
    type=click.IntRange(1, 10),
    default=None,
    help=f"Clicks deep a revealed state may be (default {MAX_DEPTH}).",
)
@click.option("--device", default=None, help='Emulate a device from Playwright\'s list: "Pixel 7".')
@click.option("--video", is_flag=True, help="Record each test; keep the videos of failed ones.")
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    metavar="NAME=VALUE",
    help="Performance budget over the target's: lcp_ms, cls, tbt_ms, ttfb_ms, fcp_ms, "
    "load_ms, requests, transfer_kb ('off' turns one off). Repeatable.",
)
@click.option(
    "--mask",
    "masks",
    multiple=True,
    metavar="CSS",
    help="Paint over these elements in visual checks (clocks, ads). Repeatable.",
)
@click.option(
    "--viewport",
    "viewports",
    multiple=True,
    metavar="WxH",
    help="Capture visual checks at this size, e.g. 390x844 (repeatable; default 1280x720).",
)
@click.option(
    "--goal",
    "goals",
    multiple=True,
    metavar="TEXT",
    help='A goal for the AI writer: "a visitor can subscribe to the newsletter" (repeatable).',
)
@click.option(
    "--goals-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="User stories for the AI writer, one per line (# starts a comment).",
)
@click.option(
    "--max-llm-calls",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Cap the run's model calls, writing and healing together.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1, 100_000_000),
    default=None,
    help="Cap the run's model tokens (in and out), writing and healing together.",
)
@click.option(
    "--no-ai",
    is_flag=True,
    help="Write tests heuristically, heal from stored locators only, even with MISTRAL_API_KEY.",
)
@click.option(
    "--no-heal", is_flag=True, help="Propose no new locators for tests whose element is gone."
)
@click.option(
    "--baseline-set",
    default=None,
    help="Visual baselines to compare with (default: the target's host and port).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help=WORKERS_HELP,
)
@click.option(
    "--suite",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run these specs instead of exploring (from 'matf write').",
)
@click.pass_context
def run(
    ctx: click.Context,
    url: str,
    out: Path,
    formats: str | None,
    types: str | None,
    browsers: str,
    max_pages: int | None,
    max_interactions: int | None,
    max_depth: int | None,
    device: str | None,
    video: bool,
    budgets: tuple[str, ...],
    masks: tuple[str, ...],
    viewports: tuple[str, ...],
    goals: tuple[str, ...],
    goals_file: Path | None,
    max_llm_calls: int | None,
    max_tokens: int | None,
    no_ai: bool,
    no_heal: bool,
    baseline_set: str | None,
    workers: int | None,
    suite: Path | None,
) -> None:
    """Explore URL, write tests, run them, and write reports."""
    from cli.campaign import Campaign
    from matf.agents.context import parse_budgets

    settings = load_settings()
    _setup_logging(settings, ctx.obj["verbose"])
    asked = {"formats": _csv(formats, REPORT_FORMATS, "formats")} if formats is not None else {}
    options = parse_options(
        {
            **asked,
            "browsers": _csv(browsers, BROWSERS, "browsers"),
            "limits": _limits(max_pages or settings.max_pages, max_interactions, max_depth),
            "rendering": {
                "device": device,
                "video": video,
                "masks": _masks(masks),
                "viewports": [parse_viewport(v) for v in viewports],
                "baseline_set": baseline_set,
            },
            "budgets": parse_budgets(list(budgets)),
            "ai": {
                "enabled": not no_ai,
                "goals": [*goals, *read_goals(goals_file)],
                "max_calls": max_llm_calls,
                "max_tokens": max_tokens,
            },
            "healing": {"enabled": not no_heal},
        }
    )
    campaign = Campaign(
        settings,
        url,
        out,
        options,
        types=_csv(types, TYPES, "types") if types is not None else None,
        workers=workers or embedded_workers(settings),
        suite=suite,
    )
    ctx.exit(campaign.run())


def parse_options(data: dict[str, Any]) -> RunOptions:
    """Run options from the command line's values; a one-line UsageError naming a bad one."""
    try:
        return RunOptions.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        raise UsageError(f"invalid option {where}: {err['msg']}") from exc


def read_goals(path: Path | None) -> list[str]:
    """User stories from a file: one per line; blank lines and # comments skipped."""
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read goals from {path}: {exc.strerror or exc}") from exc
    goals = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    for goal in goals:
        if len(goal) > 500:
            raise UsageError(f"a goal in {path} is over 500 characters: {goal[:40]!r}…")
    return goals[:50]


def parse_viewport(text: str) -> tuple[int, int]:
    """``"390x844"`` as (390, 844); a one-line UsageError otherwise."""
    width, sep, height = text.lower().strip().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise UsageError(f"invalid viewport {text!r}: use WIDTHxHEIGHT, e.g. 390x844")
    size = int(width), int(height)
    if not all(100 <= n <= 7680 for n in size):
        raise UsageError(f"invalid viewport {text!r}: each side must be 100 to 7680 pixels")
    return size


def _masks(masks: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(m.strip() for m in masks if m.strip())
    for mask in cleaned:
        if len(mask) > 500:
            raise UsageError(f"--mask {mask[:40]!r}…: a selector over 500 characters")
    return cleaned


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
    _setup_logging(settings, ctx.obj["verbose"])
    kinds = _csv(types, TYPES, "types")
    settings.check_types(kinds)
    options = WriterOptions(
        budgets=parse_budgets(list(budgets)),
        masks=_masks(masks),
        viewports=tuple(parse_viewport(v) for v in viewports),
    )
    limits = Limits.model_validate(
        _limits(max_pages or settings.max_pages, max_interactions, max_depth)
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
) -> None:
    """Serve the bundled demo shop (with seeded bugs unless --healthy)."""
    from demo.server import DemoServer, serve_forever

    if not run_campaign:
        serve_forever(bugs=not healthy, host=host, port=port, version=site_version)
        return
    from cli.campaign import Campaign

    settings = load_settings()
    _setup_logging(settings, ctx.obj["verbose"])
    kinds = _csv(types, TYPES, "types")
    # The demo's port changes every time: keep its baselines under one name.
    options = RunOptions(
        limits=Limits(max_pages=settings.max_pages),
        rendering=RenderingOptions(baseline_set=f"matf-demo-{'healthy' if healthy else 'bugs'}"),
    )
    with DemoServer(bugs=not healthy, host=host, port=0, version=site_version) as server:
        click.echo(f"demo site: {server.url} ({'healthy' if healthy else 'with seeded bugs'})")
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
