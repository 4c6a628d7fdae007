"""The chaos table: trials of each fault summed into a row, and the verdict on the targets.

Pure arithmetic on trial records, so it is tested without breaking anything
(tests/unit/test_chaos_table.py). The targets are issue 12's: no result of a
test that finished before the fault is lost or duplicated; every run ends
(passed or failed, or error with a one-line reason) within the test timeout +
60 s of the fault; no Chromium is left behind. A row also says how its runs
should end (a worker that never comes back ends its run in error, every other
fault in a pass on the healthy demo) and a different ending misses the row.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

ENDED = ("passed", "failed", "error")
NEVER = "never ended"


@dataclass(frozen=True)
class Trial:
    """One fault, once: what the run(s) it hit came to."""

    expected: int  # results the run should report (its tests)
    kept: int  # results stored before the fault: none of them may be lost or duplicated
    lost: int  # kept results gone or turned to errors, or tests a pass/fail run never reported
    duplicated: int  # results recorded twice, or a kept result replaced by a later one
    status: str  # the run's final status; anything else (running, queued) never ended
    reason: str | None  # the run's error, when it ended in error
    after_fault_s: float | None  # the fault to the run's end; None when it never ended
    limit_s: float  # test timeout + 60 s
    chromium_left: int  # Chromium processes of the trial still alive after it
    note: str = ""  # what else was seen: exit code, the CLI's last line


@dataclass(frozen=True)
class Row:
    """One fault of the table, summed over its trials."""

    fault: str
    expect: str  # "passed" or "error": how the runs should end
    trials: list[Trial] = field(default_factory=list)

    @property
    def misses(self) -> list[str]:
        """The targets this row missed, each once, in a stable order."""
        seen: dict[str, None] = {}
        for trial in self.trials:
            for miss in misses(trial, self.expect):
                seen.setdefault(miss, None)
        return list(seen) if self.trials else ["no trial ran"]

    @property
    def met(self) -> bool:
        return not self.misses


def misses(trial: Trial, expect: str) -> list[str]:
    """The targets one trial missed (empty: all met)."""
    found = []
    if trial.lost:
        found.append(f"{trial.lost} lost")
    if trial.duplicated:
        found.append(f"{trial.duplicated} duplicated")
    if trial.status not in ENDED:
        found.append(f"a run never ended (left {trial.status})")
    elif trial.status == "error" and not one_line(trial.reason):
        found.append("an error without a one-line reason")
    elif trial.after_fault_s is None or trial.after_fault_s > trial.limit_s:
        found.append(f"a run ended later than {trial.limit_s:.0f} s after the fault")
    if trial.status in ENDED and trial.status != expect:
        found.append(f"a run ended {trial.status}, expected {expect}")
    if trial.chromium_left:
        found.append(f"{trial.chromium_left} Chromium processes left")
    return found


def one_line(reason: str | None) -> bool:
    return bool(reason and reason.strip() and "\n" not in reason.strip())


def outcome(trials: list[Trial]) -> str:
    """How the runs ended, e.g. ``ended passed 3/3`` or ``error 1/2, never ended 1/2``."""
    if not trials:
        return "no trial"
    counts = Counter(t.status if t.status in ENDED else NEVER for t in trials)
    parts = [f"{status} {n}/{len(trials)}" for status, n in sorted(counts.items())]
    if len(counts) == 1 and NEVER not in counts:
        return "ended " + parts[0]
    return ", ".join(parts)


def timing(trials: list[Trial]) -> str:
    """The fault to the run's end over the trials, ``median / max`` in seconds."""
    times = [t.after_fault_s for t in trials if t.status in ENDED and t.after_fault_s is not None]
    if not times:
        return "never"
    text = f"{statistics.median(times):.1f} / {max(times):.1f}"
    return text + (" (+ never)" if len(times) < len(trials) else "")


def columns(row: Row) -> dict[str, str]:
    """The row as the table prints it."""
    trials = row.trials
    return {
        "fault": row.fault,
        "trials": str(len(trials)),
        "expected": str(sum(t.expected for t in trials)),
        "kept": str(sum(t.kept for t in trials)),
        "lost": str(sum(t.lost for t in trials)),
        "duplicated": str(sum(t.duplicated for t in trials)),
        "outcome": outcome(trials),
        "should end": row.expect,
        "after fault s (median / max)": timing(trials),
        "chromium left": str(sum(t.chromium_left for t in trials)),
        "met": "yes" if row.met else "NO",
    }


def verdict(rows: list[Row]) -> str:
    """``targets met``, or what missed them, row by row."""
    missed = [f"{row.fault}: {'; '.join(row.misses)}" for row in rows if not row.met]
    if not rows:
        return "targets missed: no row ran"
    return "targets met" if not missed else "targets missed\n  " + "\n  ".join(missed)


def text_table(rows: list[Row]) -> str:
    """The table in aligned columns, for a terminal."""
    lines = [columns(row) for row in rows]
    heads = list(columns(Row("", "passed")).keys())
    widths = {h: max([len(h)] + [len(line[h]) for line in lines]) for h in heads}
    out = ["  ".join(h.ljust(widths[h]) for h in heads)]
    out += ["  ".join(line[h].ljust(widths[h]) for h in heads) for line in lines]
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    """The table in Markdown, for reports/chaos/chaos.md and the README."""
    heads = list(columns(Row("", "passed")).keys())
    out = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    out += ["| " + " | ".join(columns(row).values()) + " |" for row in rows]
    return "\n".join(out)


def as_json(rows: list[Row]) -> dict[str, Any]:
    """Every trial with its row's summary and the verdict, for reports/chaos/chaos.json."""
    return {
        "verdict": verdict(rows).splitlines()[0],
        "rows": [
            {**columns(row), "misses": row.misses, "trials": [asdict(t) for t in row.trials]}
            for row in rows
        ],
    }
