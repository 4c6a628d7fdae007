"""One campaign from the command line: check inputs, start workers, run, summarize.

Part of the CLI's composition root: it is the one place in ``matf`` that
wires in Celery (through ``tasks``), in either mode.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli.interrupts import run_reason
from cli.progress import Progress
from matf.errors import RunTimeout, UsageError
from matf.files import write_atomic
from matf.options import COMMAND_LINE, REPORT_FILES, Limits, ReportFormat, RunOptions
from matf.pipeline.supervise import TIME_LIMIT, hit_time_limit
from matf.reports.causes import cause_line, causes_summary, plural
from matf.results import RunStatus
from matf.settings import Settings
from matf.spec import Suite, load_suite, spec_json_schema

if TYPE_CHECKING:
    from matf.agents.writer import WriterOptions


MAX_CAUSES = 10  # causes printed at the end of a run; report.html lists them all
MAX_TESTS_LISTED = 10  # failed tests printed one a line; with more, only their causes


class Campaign:
    """``matf run``: everything between the arguments and the exit code."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        out: Path,
        options: RunOptions,
        *,
        types: list[str] | None,
        workers: int,
        suite: Path | None,
    ) -> None:
        """``types`` None: every type the suite has, or the default ones."""
        from tasks.control import check_run

        self.settings = settings
        self.suite = load_suite(suite) if suite is not None else None
        suite_file = str(suite.expanduser().resolve()) if suite is not None else None
        self.out = _writable_dir(out)
        self.options = options.model_copy(
            update={
                "types": tuple(types) if types is not None else self._implicit_types(),
                "out_dir": str(self.out),
                "suite_file": suite_file,
            }
        )
        self.url = check_run(settings, url, self.options, COMMAND_LINE)
        self.workers = workers

    def run(self) -> int:
        from tasks.control import Platform

        specs = list(self.suite.tests) if self.suite is not None else None
        if specs is not None:
            wanted = set(self.options.types)
            specs = [s for s in specs if s.kind in wanted]
            if not specs:
                raise UsageError(f"the suite has no tests of type {', '.join(self.options.types)}")
        if self.options.rendering.video:
            from matf.browser.builds import video_available

            if not video_available():
                click.echo(
                    "matf: no video: Playwright's ffmpeg build is not installed here "
                    "('playwright install ffmpeg' installs it where the network allows)",
                    err=True,
                )
        platform = Platform(self.settings, self.workers)
        if platform.distributed:
            platform.check_workers()
        progress = Progress()
        run_id: str | None = None
        try:
            run_id, result = platform.start_run(
                self.url, self.options, specs, wording=COMMAND_LINE, follow_result=True
            )
            state = platform.follow(
                run_id,
                result,
                self.settings.matf_run_timeout,
                progress.update,
                on_notice=progress.notice,
            )
            progress.update(state)  # how it ended, when follow ended it (its time limit)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (cli/interrupts.py)
            progress.close()
            if run_id is not None:
                platform.interrupt_run(run_id, run_reason(exc))
            raise  # no graceful stop: tests in flight would hold us
        except BaseException:
            progress.close()
            platform.close()
            raise
        progress.close()
        platform.close()
        return self._summarize(run_id, state)

    def _timed_out(self, run_id: str, error: str) -> RunTimeout:
        """The one line for a run ended at its time limit (its reports hold what finished)."""
        within = error.removesuffix(TIME_LIMIT).strip().removeprefix("run ")
        line = f"run {run_id} hit its time limit ({within}; MATF_RUN_TIMEOUT sets it)"
        if "html" in self.options.formats and (self.out / "report.html").exists():
            line += f": tests without a result are errors in {self.out / 'report.html'}"
        return RunTimeout(line)

    def _implicit_types(self) -> tuple[str, ...]:
        """The suite's types whose flags are on (saying which are off), or the defaults."""
        if self.suite is None:
            return RunOptions().types
        kinds: list[str] = list(dict.fromkeys(spec.kind for spec in self.suite.tests))
        for kind in kinds:
            reason = self.settings.type_enabled(kind)
            if reason is not None:
                click.echo(f"matf: not running the suite's {kind} tests: {reason}", err=True)
        return tuple(k for k in kinds if self.settings.type_enabled(k) is None) or tuple(kinds)

    def _summarize(self, run_id: str, state: dict[str, object]) -> int:
        if state["status"] == RunStatus.ERROR:
            from matf.errors import RunError

            error = str(state.get("error") or "unknown reason")
            if hit_time_limit(error):
                raise self._timed_out(run_id, error)
            raise RunError(f"run {run_id} failed: {error}")
        report = json.loads((self.out / "report.json").read_text(encoding="utf-8"))
        counts = report["run"]["counts"]
        parts = [
            f"{counts[k]} {k}"
            for k in ("passed", "failed", "flaky", "error", "skipped")
            if counts[k] or k in ("passed", "failed")
        ]
        click.echo(f"run {run_id}: {counts['total']} tests, " + ", ".join(parts))
        llm = report["run"].get("llm")
        if llm:
            click.echo(
                f"  AI writer ({llm['model']}): {llm['calls']} calls, {llm['prompt_tokens']} "
                f"tokens in, {llm['completion_tokens']} out (~${llm['cost_usd']:.4f}); "
                f"{llm['cached_pages']} of {llm['pages']} pages from cache; "
                f"{llm['verified']} verified, {llm['findings']} findings, "
                f"{len(llm['dropped'])} dropped"
            )
        healing = report["run"].get("healing")
        if healing:
            click.echo(healer_line(healing, run_id))
        skipped: dict[str, str] = {}
        for test in report["tests"]:
            if test["status"] == "skipped" and test.get("error"):
                skipped.setdefault(test["browser"], test["error"])
        for browser, reason in skipped.items():
            click.echo(f"  SKIPPED {browser}: {printable(reason)}")
        for line in failure_lines(report):
            click.echo(line)
        click.echo(reports_line(self.out, self.options.formats, report.get("pdf_skipped")))
        return 0 if report["run"]["status"] == "passed" else 1


def reports_line(out: Path, formats: tuple[ReportFormat, ...], pdf_skipped: str | None) -> str:
    """Where the reports went, naming only those written: the first in full, then the others.

    ``reports: /out/report.html  (also report.json, junit.xml, report.pdf)``; a
    report.pdf asked for but not printed is named with the reason instead.
    """
    pdf = REPORT_FILES["pdf"]
    names = [REPORT_FILES[f] for f in formats if not (f == "pdf" and pdf_skipped)]
    notes = [f"also {', '.join(names[1:])}"] if names[1:] else []
    if pdf_skipped:
        notes.append(f"{pdf} skipped: {printable(pdf_skipped)}")
    return f"reports: {out / names[0]}" + (f"  ({'; '.join(notes)})" if notes else "")


def failure_lines(report: dict[str, Any]) -> list[str]:
    """What failed, for the terminal: one line per cause, then the tests if they are few.

    ``3 causes for 25 failures``, the ``MAX_CAUSES`` commonest causes one a
    line, then each failed test with its error while there are at most
    ``MAX_TESTS_LISTED``; beyond that report.html lists them. A report.json
    from before failure groups gets the test lines only, as it always did.
    """
    failed = [t for t in report["tests"] if t["status"] in ("failed", "error")]
    groups = [g for g in report.get("failure_groups") or [] if isinstance(g, dict)]
    lines: list[str] = []
    if groups:
        lines.append(f"  {causes_summary(groups, len(failed))}:")
        for group in groups[:MAX_CAUSES]:
            browsers = group.get("browsers") or []
            on = f" [{', '.join(map(str, browsers))}]" if len(browsers) > 1 else ""
            lines.append(printable(f"    {cause_line(group)}{on}"))
        rest = groups[MAX_CAUSES:]
        if rest:
            tests = sum(int(g.get("count") or 0) for g in rest)
            lines.append(f"    … and {plural(len(rest), 'more cause')} ({plural(tests, 'test')})")
        if len(failed) > MAX_TESTS_LISTED:
            return lines  # report.html lists them, by cause
    for test in failed:
        first = " ".join((test.get("error") or "").split())  # one line, what and why
        first = first if len(first) <= 200 else first[:199] + "…"
        kind = f" ({test['triage']['kind']})" if test.get("triage") else ""
        lines.append(
            f"  {test['status'].upper():6} {printable(test['name'])} [{test['browser']}]"
            f"{kind}  {printable(first)}"
        )
    return lines


def healer_line(healing: dict[str, Any], run_id: str) -> str:
    """One summary line of what the healer did in a run, and where to review its proposals."""

    def count(key: str) -> int:
        try:
            return int(healing.get(key) or 0)
        except (TypeError, ValueError):
            return 0

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    tests, proposals, calls = count("tests"), count("proposals"), count("calls")
    line = (
        f"  healer: {plural(tests, 'test')} with a lost element, "
        f"{plural(proposals, 'proposal')} ({count('passed')} passed on re-run), "
        f"{plural(calls, 'model call')}"
    )
    if calls:
        line += f" ({count('prompt_tokens')} tokens in, {count('completion_tokens')} out)"
    if proposals:
        line += f"; review: matf heal list --run {run_id}"
    return printable(line)


def printable(text: str) -> str:
    """Page text is untrusted: no terminal control sequences reach the user's screen."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _writable_dir(path: Path) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write reports to {path}: {exc.strerror or exc}") from exc
    return path


def write_suite(
    settings: Settings,
    url: str,
    output: Path,
    types: list[str],
    max_pages: int,
    options: WriterOptions | None = None,
    limits: Limits | None = None,
) -> tuple[int, list[str]]:
    """``matf write``: explore in-process and save a validated suite file.

    Returns how many tests were written, and a line for each test left out
    as invalid (its id, name and reason, printable). ``limits``: how much
    interaction exploration does per page (``Limits``' defaults).
    """
    from matf.agents.context import check_target, validate_url
    from matf.agents.explore import explore
    from matf.agents.writer import write_checked
    from matf.browser.pool import BrowserPool

    url = validate_url(url)
    check_target(url)
    pool = BrowserPool(settings.matf_chromium_path)
    try:
        limits = limits or Limits()
        site = explore(
            url, pool.browser("chromium"), max_pages, settings.step_timeout,
            discover_api="api" in types,
            max_interactions=limits.max_interactions, max_depth=limits.max_depth,
        )  # fmt: skip
        checked = write_checked(site, types, options)
    finally:
        pool.close()
    specs = checked.specs
    dropped = [printable(f"{d.id} ({d.name}): {d.reason}") for d in checked.dropped]
    if not specs:
        raise UsageError(f"found nothing to test at {url}")
    suite = Suite(target=url, tests=specs)
    _atomic_write(output, suite.model_dump_json(indent=2, exclude_none=True) + "\n")
    return len(specs), dropped


def write_schemas(out: Path) -> list[Path]:
    from matf.reports.document import report_json_schema

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in (
        ("suite.schema.json", spec_json_schema()),
        ("report.schema.json", report_json_schema()),
    ):
        path = out / name
        _atomic_write(path, json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def _atomic_write(path: Path, text: str) -> None:
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
