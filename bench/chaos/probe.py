"""What a trial sees: a run's results before the fault and at its end, and Chromium left over.

Results are read from the run's database (the durable record), and the
report's own list of tests is checked for a test reported twice. Chromium is
found by its environment: every process of a trial inherits the trial's
folder in DATABASE_URL, so other people's browsers on the machine are not
counted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.chaos.table import ENDED, Trial
from matf.storage import models
from matf.storage.db import get_engine, session_scope

Key = tuple[str, str]  # (case id, browser)
EMBEDDED_GRACE_S = 5.0  # an embedded run's status settles this soon after its process exits


@dataclass(frozen=True)
class RunView:
    """One run as its database holds it."""

    id: str
    status: str
    phase: str
    error: str | None
    cases: frozenset[str]
    results: dict[Key, tuple[int, str]]  # -> (row id, status)


def engine_of(folder: Path) -> Any:
    return get_engine(f"sqlite:///{folder / 'matf.db'}")


def runs(folder: Path) -> list[RunView]:
    """Every run in the folder's database, oldest first."""
    if not (folder / "matf.db").exists():
        return []
    with session_scope(engine_of(folder)) as session:
        found = session.scalars(select(models.Run).order_by(models.Run.created_at)).all()
        return [_view(session, run) for run in found]


def _view(session: Any, run: models.Run) -> RunView:
    cases = session.scalars(select(models.TestCase.case_id).where(models.TestCase.run_id == run.id))
    rows = session.execute(
        select(
            models.TestResultRow.case_id,
            models.TestResultRow.browser,
            models.TestResultRow.id,
            models.TestResultRow.status,
        ).where(models.TestResultRow.run_id == run.id)
    ).all()
    return RunView(
        id=run.id,
        status=run.status.value,
        phase=run.phase,
        error=run.error,
        cases=frozenset(cases),
        results={(str(c), str(b)): (int(i), str(s)) for c, b, i, s in rows},
    )


def newest(folder: Path) -> RunView | None:
    found = runs(folder)
    return found[-1] if found else None


def wait_for(folder: Path, predicate: Callable[[RunView], bool], timeout_s: float = 120) -> RunView:
    """Poll the newest run until ``predicate`` holds on it (every 20 ms: phases can be short)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            view = newest(folder)
        except Exception:  # noqa: BLE001 - the database being created, or busy: look again
            view = None
        if view is not None and predicate(view):
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"the run never got there: {view}")
        time.sleep(0.02)


def counted(view: RunView, before: RunView, expected: int) -> tuple[int, int]:
    """(lost, duplicated) of ``view`` at its end against ``before``, its state at the fault.

    Lost: a result stored before the fault that is gone or became an error,
    plus, in a run that ended passed or failed, a test it never reported.
    Duplicated: a result stored before the fault replaced by a later one.
    """
    lost = duplicated = 0
    for key, (row_id, _status) in before.results.items():
        now = view.results.get(key)
        if now is None or now[1] == "error":
            lost += 1
        elif now[0] != row_id:
            duplicated += 1
    if view.status in ("passed", "failed"):
        reported = {case for case, _browser in view.results}
        kept = {case for case, _browser in before.results}
        lost += max(0, expected - len(reported | kept))
    return lost, duplicated


def reported_twice(report: Path) -> int:
    """Tests the report lists more than once (per case and browser)."""
    if not report.exists():
        return 0
    tests = json.loads(report.read_text()).get("tests", [])
    keys = Counter((t.get("case_id"), t.get("browser")) for t in tests)
    return sum(n - 1 for n in keys.values())


def chromium_left(folder: Path, settle_s: float = 10) -> int:
    """Chromium processes of ``folder``'s trial alive ``settle_s`` after it; then killed.

    Killed so that one trial's leftovers neither pile up on the machine nor
    count against the next trial.
    """
    marker = str(folder).encode()
    deadline = time.monotonic() + settle_s
    while (left := _chromium(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        with suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(left)


def _chromium(marker: bytes) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            if b"chrom" not in os.path.basename(argv0).lower():
                continue
            if marker in Path(f"/proc/{pid}/environ").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def wait_for_end(
    folder: Path,
    clis: list[subprocess.Popen[Any]],
    fault_at: float,
    limit_s: float,
    embedded: bool,
    later: list[tuple[float, Callable[[], None]]] | None = None,
) -> float | None:
    """Seconds from the fault until every run ended and its CLI exited; None if never.

    ``later`` holds the fault's own next steps (restart Redis after 3 s...),
    done when due while waiting. Waits at most 30 s past the limit (so a late
    end is still timed); an embedded run is given up on soon after its process
    exited, since nothing else will end it.
    """
    pending = sorted(later or [], key=lambda step: step[0])
    exited_at: float | None = None
    while True:
        now = time.monotonic()
        while pending and now - fault_at >= pending[0][0]:
            pending.pop(0)[1]()
        if exited_at is None and all(cli.poll() is not None for cli in clis):
            exited_at = now
        if exited_at is not None and not pending and _all_ended(folder):
            return time.monotonic() - fault_at
        if now - fault_at > limit_s + 30:
            return None
        if embedded and exited_at is not None and now - exited_at > EMBEDDED_GRACE_S:
            return None
        time.sleep(0.2)


def _all_ended(folder: Path) -> bool:
    try:
        return all(view.status in ENDED for view in runs(folder))
    except Exception:  # noqa: BLE001 - busy database: look again
        return False


def trial_of(
    folder: Path,
    before: RunView,
    expected: int,
    after_fault_s: float | None,
    limit_s: float,
    chromium_left: int,
    note: str = "",
    report: str = "out/cli",
) -> Trial:
    """The trial record of the run ``before`` was taken from, as it is now."""
    view = next(v for v in runs(folder) if v.id == before.id)
    lost, duplicated = counted(view, before, max(expected, len(view.cases)))
    return Trial(
        expected=max(expected, len(view.cases)),
        kept=len(before.results),
        lost=lost,
        duplicated=duplicated + reported_twice(folder / report / "report.json"),
        status=view.status,
        reason=view.error,
        after_fault_s=after_fault_s,
        limit_s=limit_s,
        chromium_left=chromium_left,
        note=note,
    )


def last_line(path: Path) -> str:
    """The last non-empty line of a CLI's output file (its one-line message)."""
    if not path.exists():
        return ""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
