"""``matf run``: explore a site (or take a suite), run the tests, write the reports."""

from __future__ import annotations

from pathlib import Path

import click

from cli.arguments import (
    BROWSERS,
    DEFAULT_TYPES,
    TYPES,
    WORKERS_HELP,
    choices,
    clean_masks,
    login_options,
    parse_options,
    parse_viewport,
    run_limits,
    setup_logging,
)
from matf.errors import UsageError
from matf.options import MAX_DEPTH, MAX_INTERACTIONS, REPORT_FORMATS, embedded_workers
from matf.settings import load_settings


@click.command()
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
@click.option(
    "--login",
    is_flag=True,
    help="Sign in first, with the target secret 'login' "
    "(matf secrets set URL login --json); each test starts signed in.",
)
@click.option(
    "--login-url",
    metavar="URL",
    default=None,
    help="The sign-in page, on the target's origin (default: found from the site). "
    "Implies --login.",
)
@click.option(
    "--logged-in-check",
    metavar="SELECTOR",
    default=None,
    help='A Playwright selector only a signed-in page shows, e.g. "text=Sign out". '
    "Implies --login.",
)
@click.option(
    "--login-suite",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sign in with this spec's steps instead of a form (single sign-on, several pages); "
    "{{secret:login.username}} and {{secret:login.password}} in it are the credentials. "
    "Implies --login.",
)
@click.option(
    "--as",
    "as_roles",
    metavar="ROLES",
    default=None,
    help="Sign in as each of these roles, comma-separated (e.g. admin,user), with the "
    "secret login.<role>; the suite runs once per role. Implies --login.",
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
    login: bool,
    login_url: str | None,
    logged_in_check: str | None,
    login_suite: Path | None,
    as_roles: str | None,
) -> None:
    """Explore URL, write tests, run them, and write reports."""
    from cli.campaign import Campaign
    from matf.agents.context import parse_budgets

    settings = load_settings()
    setup_logging(settings, ctx.obj["verbose"])
    asked = {"formats": choices(formats, REPORT_FORMATS, "formats")} if formats is not None else {}
    options = parse_options(
        {
            **asked,
            "browsers": choices(browsers, BROWSERS, "browsers"),
            "limits": run_limits(max_pages or settings.max_pages, max_interactions, max_depth),
            "rendering": {
                "device": device,
                "video": video,
                "masks": clean_masks(masks),
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
            "login": login_options(login, login_url, logged_in_check, as_roles, login_suite),
        }
    )
    campaign = Campaign(
        settings,
        url,
        out,
        options,
        types=choices(types, TYPES, "types") if types is not None else None,
        workers=workers or embedded_workers(settings),
        suite=suite,
    )
    ctx.exit(campaign.run())


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
