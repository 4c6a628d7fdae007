"""One campaign from the command line: check inputs, start workers, run, summarize.

Part of the CLI's composition root: it is the one place in ``matf`` that
wires in Celery (through ``tasks``), in either mode.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from matf.agents.context import validate_url
from matf.errors import UsageError
from matf.files import write_atomic
from matf.progress import Progress
from matf.settings import Settings
from matf.spec import Suite, load_suite, spec_json_schema

if TYPE_CHECKING:
    from celery import Celery

    from matf.agents.writer import WriterOptions
    from tasks.embedded import EmbeddedWorkers


@dataclass(frozen=True)
class Rendering:
    """A run's rendering and checking options beyond types and browsers."""

    device: str | None = None
    video: bool = False
    budgets: dict[str, Any] = field(default_factory=dict)
    masks: tuple[str, ...] = ()
    baseline_set: str | None = None
    viewports: tuple[tuple[int, int], ...] = ()

    # The run options ``options()`` may set: what a re-run carries over.
    KEYS = ("device", "video", "budgets", "visual_masks", "baseline_set", "viewports")

    def options(self) -> dict[str, Any]:
        """The run options these become (absent when unset)."""
        found: dict[str, Any] = {
            "device": self.device,
            "video": self.video or None,
            "budgets": self.budgets or None,
            "visual_masks": list(self.masks) or None,
            "baseline_set": self.baseline_set,
            "viewports": [list(size) for size in self.viewports] or None,
        }
        return {k: v for k, v in found.items() if v is not None}


def ai_options(ai: dict[str, Any] | None) -> dict[str, Any]:
    """A run's ``ai`` option as the writer reads it (enabled, goals, max_calls, max_tokens).

    Unset values are left out, so the command line and the API store the same shape.
    """
    return {k: v for k, v in (ai or {}).items() if v not in (None, [])}


def check_device(name: str | None) -> None:
    """A one-line UsageError for a device Playwright cannot emulate."""
    if name is None:
        return
    from matf.browser.pool import device_names, unknown_device

    known = device_names()
    if name not in known:
        raise unknown_device(name, known)


class Campaign:
    """``matf run``: everything between the arguments and the exit code."""

    def __init__(
        self,
        settings: Settings,
        url: str,
        out: Path,
        types: list[str] | None,
        browsers: list[str],
        max_pages: int,
        workers: int,
        suite: Path | None,
        rendering: Rendering | None = None,
        ai: dict[str, Any] | None = None,
        heal: bool = True,
    ) -> None:
        """``types`` None: every type the suite has, or the default ones."""
        self.settings = settings
        self.url = validate_url(url)
        self.suite = load_suite(suite) if suite is not None else None
        self.suite_file = suite.expanduser().resolve() if suite is not None else None
        if types is None:
            types = self._implicit_types()
        settings.check_types(types)
        self.rendering = rendering or Rendering()
        check_device(self.rendering.device)
        self.out = _writable_dir(out)
        self.types, self.browsers = types, browsers
        self.max_pages, self.workers = max_pages, workers
        self.ai = ai_options(ai)
        self.heal = heal
        if self.ai.get("goals") and not settings.mistral_api_key and self.ai.get("enabled", True):
            raise UsageError("--goal needs the AI writer: set MISTRAL_API_KEY")

    def run(self) -> int:
        from matf.storage.db import get_engine
        from tasks.launch import follow, stop_run, submit

        engine = get_engine(self.settings.database_url)
        options = {
            "types": self.types,
            "browsers": self.browsers,
            "max_pages": self.max_pages,
            "out_dir": str(self.out),
            "mode": self._mode(),
            **self.rendering.options(),
            **({"ai": self.ai} if self.ai else {}),
            **({"suite_file": str(self.suite_file)} if self.suite_file is not None else {}),
            **({} if self.heal else {"heal": False}),
        }
        specs = list(self.suite.tests) if self.suite is not None else None
        if specs is not None:
            wanted = set(self.types)
            specs = [s for s in specs if s.kind in wanted]
            if not specs:
                raise UsageError(f"the suite has no tests of type {', '.join(self.types)}")
        if self.rendering.video:
            from matf.browser.builds import video_available

            if not video_available():
                click.echo(
                    "matf: no video: Playwright's ffmpeg build is not installed here "
                    "('playwright install ffmpeg' installs it where the network allows)",
                    err=True,
                )
        runtime = self._start_workers()
        progress = Progress()
        run_id: str | None = None
        try:
            run_id, result = submit(runtime.app, engine, self.url, options, specs)
            state = follow(engine, run_id, result, self.settings.matf_run_timeout, progress.update)
        except KeyboardInterrupt:
            progress.close()
            if run_id is not None:
                stop_run(engine, run_id, "interrupted by the user")
            raise  # no graceful stop: tests in flight would hold us
        except BaseException:
            progress.close()
            runtime.stop()
            raise
        progress.close()
        runtime.stop()
        return self._summarize(run_id, state)

    def _implicit_types(self) -> list[str]:
        """The suite's types whose flags are on (saying which are off), or the defaults."""
        if self.suite is None:
            return ["functional", "accessibility"]
        kinds: list[str] = list(dict.fromkeys(spec.kind for spec in self.suite.tests))
        for kind in kinds:
            reason = self.settings.type_enabled(kind)
            if reason is not None:
                click.echo(f"matf: not running the suite's {kind} tests: {reason}", err=True)
        return [k for k in kinds if self.settings.type_enabled(k) is None] or kinds

    def _mode(self) -> str:
        return "distributed" if self.settings.distributed else "embedded"

    def _start_workers(self) -> _Runtime:
        if self.settings.distributed:
            from tasks.app import make_celery
            from tasks.launch import check_workers

            app = make_celery(self.settings)
            check_workers(app)
            return _Runtime(app, None)
        from tasks.embedded import EmbeddedWorkers

        workers = EmbeddedWorkers(self.settings, self.workers).start()
        return _Runtime(workers.app, workers)

    def _summarize(self, run_id: str, state: dict[str, object]) -> int:
        if state["status"] == "error":
            from matf.errors import RunError

            raise RunError(f"run {run_id} failed: {state.get('error') or 'unknown reason'}")
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
        for test in report["tests"]:
            if test["status"] in ("failed", "error"):
                first = " ".join((test.get("error") or "").split())  # one line, what and why
                first = first if len(first) <= 200 else first[:199] + "…"
                kind = f" ({test['triage']['kind']})" if test.get("triage") else ""
                click.echo(
                    f"  {test['status'].upper():6} {printable(test['name'])} [{test['browser']}]"
                    f"{kind}  {printable(first)}"
                )
        click.echo(f"reports: {self.out / 'report.html'}  (also report.json, junit.xml)")
        return 0 if report["run"]["status"] == "passed" else 1


class _Runtime:
    """The app to send the run with, and the embedded workers to stop after it (if any)."""

    def __init__(self, app: Celery, workers: EmbeddedWorkers | None) -> None:
        self.app = app
        self._workers = workers

    def stop(self) -> None:
        if self._workers is not None:
            self._workers.stop()


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
) -> int:
    """``matf write``: explore in-process and save a validated suite file."""
    from matf.agents.context import check_target
    from matf.agents.explore import explore
    from matf.agents.writer import write_specs
    from matf.browser.pool import BrowserPool

    url = validate_url(url)
    check_target(url)
    pool = BrowserPool(settings.matf_chromium_path)
    try:
        site = explore(
            url, pool.browser("chromium"), max_pages, settings.step_timeout,
            discover_api="api" in types,
        )  # fmt: skip
        specs = write_specs(site, types, options)
    finally:
        pool.close()
    if not specs:
        raise UsageError(f"found nothing to test at {url}")
    suite = Suite(target=url, tests=specs)
    _atomic_write(output, suite.model_dump_json(indent=2, exclude_none=True) + "\n")
    return len(specs)


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
