"""The chaos benchmark's arithmetic, on made-up trials: its table and verdict, without faults."""

from __future__ import annotations

from dataclasses import replace

from bench.chaos.probe import RunView, counted
from bench.chaos.table import Row, Trial, columns, markdown_table, misses, outcome, verdict

CLEAN = Trial(
    expected=14,
    kept=12,
    lost=0,
    duplicated=0,
    status="passed",
    reason=None,
    after_fault_s=8.0,
    limit_s=90.0,
    chromium_left=0,
)


def test_a_row_whose_trials_all_met_the_targets_says_so() -> None:
    row = Row("kill -9 of one executor pool child", "passed")
    row.trials.extend(
        [CLEAN, replace(CLEAN, after_fault_s=20.0), replace(CLEAN, after_fault_s=11.0)]
    )
    shown = columns(row)
    assert (shown["trials"], shown["expected"], shown["kept"]) == ("3", "42", "36")
    assert (shown["lost"], shown["duplicated"], shown["chromium left"]) == ("0", "0", "0")
    assert shown["outcome"] == "ended passed 3/3"
    assert shown["after fault s (median / max)"] == "11.0 / 20.0"
    assert row.met and verdict([row]) == "targets met"


def test_every_target_a_trial_misses_is_named() -> None:
    assert misses(replace(CLEAN, lost=2), "passed") == ["2 lost"]
    assert misses(replace(CLEAN, duplicated=1), "passed") == ["1 duplicated"]
    assert misses(replace(CLEAN, status="running", after_fault_s=None), "passed") == [
        "a run never ended (left running)"
    ]
    assert misses(replace(CLEAN, after_fault_s=91.0), "passed") == [
        "a run ended later than 90 s after the fault"
    ]
    assert misses(replace(CLEAN, status="error", reason="line one\nline two"), "error") == [
        "an error without a one-line reason"
    ]
    assert misses(replace(CLEAN, status="error", reason="no worker within 45 s"), "passed") == [
        "a run ended error, expected passed"
    ]
    assert misses(replace(CLEAN, chromium_left=3), "passed") == ["3 Chromium processes left"]
    assert misses(replace(CLEAN, status="error", reason="no worker within 45 s"), "error") == []


def test_one_bad_trial_misses_its_row_and_the_verdict_names_it() -> None:
    good = Row("two embedded runs on one database at once", "passed", [CLEAN, CLEAN])
    bad = Row(
        "SIGTERM to an embedded `matf run`",
        "error",
        [
            replace(CLEAN, status="error", reason="interrupted"),
            replace(CLEAN, status="running", after_fault_s=None),
        ],
    )
    assert outcome(bad.trials) == "error 1/2, never ended 1/2"
    assert columns(bad)["after fault s (median / max)"] == "8.0 / 8.0 (+ never)"
    assert columns(bad)["met"] == "NO"
    assert verdict([good, bad]) == (
        "targets missed\n  SIGTERM to an embedded `matf run`: a run never ended (left running)"
    )
    table = markdown_table([good, bad]).splitlines()
    assert len(table) == 4 and table[0].startswith("| fault | trials | expected |")
    assert verdict([]) == "targets missed: no row ran"


def _view(status: str, results: dict[tuple[str, str], tuple[int, str]]) -> RunView:
    return RunView("run-1", status, "done", None, frozenset(), results)


def test_a_kept_result_gone_or_replaced_counts_as_lost_or_duplicated() -> None:
    before = _view("running", {("a", "chromium"): (1, "passed"), ("b", "chromium"): (2, "passed")})
    # a kept result turned into an error, and another written again after the fault
    after = _view(
        "error",
        {
            ("a", "chromium"): (1, "error"),
            ("b", "chromium"): (7, "passed"),
            ("c", "chromium"): (8, "error"),
        },
    )
    assert counted(after, before, expected=3) == (1, 1)
    # a run that ended passed but never reported one of its tests lost it
    passed = _view("passed", {("a", "chromium"): (1, "passed"), ("b", "chromium"): (2, "passed")})
    assert counted(passed, before, expected=3) == (1, 0)
    # an error run may leave tests unreported: they are errors with its reason, not lost
    assert counted(replace(passed, status="error"), before, expected=3) == (0, 0)
