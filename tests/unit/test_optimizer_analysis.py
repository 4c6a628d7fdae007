"""The optimizer: flip rates, stable failures, clusters, run order, quarantine proposals.

Histories are written as rows into real SQLite files, one letter per run:
P passed, F failed, R failed then passed on retry ("flaky"), S skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, select

from matf.agents.flakiness import MIN_RUNS, flakiness_score
from matf.agents.optimizer import analyse, scheduled_analysis
from matf.options import RunOptions
from matf.pipeline.fanout import plan_fan_out
from matf.settings import Settings
from matf.spec import parse_spec
from matf.storage.db import get_engine, head_revision, session_scope
from matf.storage.models import QuarantineProposal, Run, Suite, SuiteCase, TestResultRow
from matf.storage.optimizer import (
    REPROPOSE_MARGIN,
    Candidate,
    decide,
    latest_analysis,
    list_proposals,
    suite_order,
    sync_proposals,
)
from matf.storage.runs import create_run, save_cases
from matf.storage.suites import plan_suite

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime.now(UTC).replace(microsecond=0)  # the CLI reads up to the real now
STATUS = {"P": "passed", "F": "failed", "R": "flaky", "S": "skipped"}


def _engine(tmp_path: Path) -> Engine:
    return get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _spec(case_id: str):  # type: ignore[no-untyped-def]
    return parse_spec(
        {
            "id": case_id,
            "name": case_id,
            "url": "http://127.0.0.1/",
            "steps": [{"action": "goto", "url": "/"}],
        }
    )


def _history(
    engine: Engine,
    tests: dict[str, str],
    suite_id: str | None = "s-1",
    durations: dict[str, list[int]] | None = None,
    quarantined: tuple[str, ...] = (),
    extra_cases: tuple[str, ...] = (),
) -> None:
    """One run per letter, an hour apart and ending an hour before NOW."""
    runs = max(len(h) for h in tests.values())
    with session_scope(engine, write=True) as session:
        if suite_id is not None and session.get(Suite, suite_id) is None:
            session.add(Suite(id=suite_id, name=suite_id, target="http://127.0.0.1/"))
            session.flush()
            for position, case_id in enumerate([*tests, *extra_cases]):
                session.add(
                    SuiteCase(
                        suite_id=suite_id,
                        case_id=case_id,
                        position=position,
                        spec=_spec(case_id).model_dump(mode="json"),
                        quarantined=case_id in quarantined,
                    )
                )
        start = session.scalar(select(Run.id).order_by(Run.id.desc()).limit(1))
        first = int(start.rsplit("-", 1)[1]) + 1 if start else 0
        for r in range(runs):
            run_id = f"r-{first + r:04d}"
            session.add(
                Run(
                    id=run_id,
                    target="http://127.0.0.1/",
                    status="passed",
                    options=RunOptions(browsers=("chromium",)),
                    created_at=NOW - timedelta(hours=runs - r) + timedelta(minutes=first),
                    suite_id=suite_id,
                )
            )
            for case_id, letters in tests.items():
                if r >= len(letters):
                    continue
                session.add(
                    TestResultRow(
                        run_id=run_id,
                        case_id=case_id,
                        browser="chromium",
                        status=STATUS[letters[r]],
                        duration_ms=(durations or {}).get(case_id, [1000] * runs)[r],
                        attempts=2 if letters[r] == "R" else 1,
                        data={},
                    )
                )


def _stats(engine: Engine, threshold: float = 0.8):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        found = analyse(session, days=30, threshold=threshold, now=NOW)
    return found, {s.key.case_id: s for s in found.stats}


def _settings(threshold: float = 0.8) -> Settings:
    return Settings(historical_data_days=30, optimization_threshold=threshold)  # type: ignore[call-arg]


def test_flip_rate_counts_pass_fail_transitions_and_retries_count_as_flips(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(
        engine,
        {
            "alternating": "PFPFPPPPPP",  # 4 flips over 9 gaps
            "retried": "PPRPPPRPPP",  # never failed in the end, twice only on retry
            "skips": "PSFSPPPPPPP",  # skipped runs do not count: P F P ... = 2 flips in 9 runs
            "steady": "PPPPPPPPPP",
        },
    )
    _found, stats = _stats(engine)
    alternating = stats["alternating"]
    assert (alternating.runs, alternating.flips, alternating.failures) == (10, 4, 2)
    assert alternating.flip_rate == pytest.approx(4 / 9)
    assert alternating.score == pytest.approx(min(1.0, 8 / 9))
    assert alternating.flaky
    retried = stats["retried"]
    assert (retried.flips, retried.flaky_runs) == (0, 2)
    assert retried.score == pytest.approx(flakiness_score(0.0, 0.2)) == pytest.approx(0.4)
    assert retried.flaky
    assert (stats["skips"].runs, stats["skips"].flips) == (9, 2)
    assert not stats["skips"].flaky  # broken once, fixed once: two flips are no proof
    assert stats["steady"].score == 0 and not stats["steady"].flaky


def test_stable_failures_and_regressions_are_failing_not_flaky(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(engine, {"broken": "F" * 12, "regressed": "P" * 6 + "F" * 6, "ok": "P" * 12})
    found, stats = _stats(engine)
    assert stats["broken"].score == 0 and not stats["broken"].flaky
    assert stats["regressed"].flips == 1 and not stats["regressed"].flaky
    assert [s.key.case_id for s in found.stable_failures] == ["broken"]
    assert found.flaky == [] and found.candidates == []
    assert found.findings()["stable_failures"][0]["case_id"] == "broken"


def test_too_few_runs_say_nothing_whatever_the_score(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(engine, {"young": "PFPFPF"})
    found, stats = _stats(engine)
    assert stats["young"].score == 1.0
    assert not stats["young"].flaky and found.candidates == []
    assert found.findings()["rules"]["min_runs"] == MIN_RUNS


def test_tests_failing_in_the_same_runs_form_a_cluster_and_others_do_not(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(
        engine,
        {
            "cart": "PPFPPFPPFPPF",
            "checkout": "PPFPPFPPFPPP",
            "payment": "PPFPPFPPPPPF",
            "search": "PFPPFPPFPPFP",  # fails as often, in other runs
            "broken": "FFFFFFFFFFFF",  # fails with everyone: no signal
            "steady": "PPPPPPPPPPPP",
        },
    )
    found, _stats_by_case = _stats(engine)
    assert [sorted(m.case_id for m in c.members) for c in found.clusters] == [
        ["cart", "checkout", "payment"]
    ]
    [cluster] = found.findings()["clusters"]
    assert cluster["size"] == 3 and cluster["co_failing_runs"] == 4
    assert cluster["failing_runs"] == 4 and cluster["jaccard"] >= 0.5


def test_slowest_tests_have_percentiles_and_a_trend(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(
        engine,
        {"slowing": "P" * 10, "quick": "P" * 10},
        durations={
            "slowing": [1000, 1100, 1000, 1200, 1000, 2000, 2100, 2000, 2200, 9000],
            "quick": [100] * 10,
        },
    )
    found, stats = _stats(engine)
    slowing = stats["slowing"]
    assert (slowing.p50_ms, slowing.p95_ms) == (1200, 9000)
    assert (slowing.older_p50_ms, slowing.recent_p50_ms) == (1000, 2100)
    assert slowing.trend == "slower" and stats["quick"].trend == "steady"
    assert [s["case_id"] for s in found.findings()["slowest"]] == ["slowing", "quick"]


def test_the_run_order_puts_likely_failures_first_then_new_tests_then_the_longest(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    _history(
        engine,
        {
            "short": "P" * 10,
            "long": "P" * 10,
            "failed-lately": "PPPPPPPPPF",  # 1 of its last 5 runs failed
            "flaky": "FPFPFPFPFP",  # 2 of its last 5
            "muted": "FPFPFPFPFP",  # as flaky, but quarantined: it cannot fail the run
        },
        durations={"short": [100] * 10, "long": [9000] * 10, "muted": [5000] * 10},
        quarantined=("muted",),
        extra_cases=("new",),
    )
    found, _stats_by_case = _stats(engine)
    assert found.orders["s-1"] == ["flaky", "failed-lately", "new", "long", "muted", "short"]
    saved = found.first_failure["s-1"]
    assert saved["runs"] == 6 and saved["ratio"] < 1  # file order reaches a failure later


def test_dispatch_follows_the_stored_order_and_new_tests_go_first(tmp_path: Path) -> None:
    from tasks.canvas import executor_signatures

    engine = _engine(tmp_path)
    _history(engine, {"a": "P" * 10, "b": "P" * 10, "c": "PPPPPPPPFF"})
    scheduled_analysis(engine, _settings(), now=NOW)
    with session_scope(engine) as session:
        assert suite_order(session, "s-1") == ["c", "a", "b"]
        assert suite_order(session, "s-other") is None
    with session_scope(engine, write=True) as session:
        run = create_run(session, "http://127.0.0.1/", RunOptions(browsers=("chromium",)))
        run.suite_id = "s-1"
        save_cases(session, run.id, [_spec(c) for c in ("a", "b", "c", "d")])
        ad_hoc = create_run(session, "http://127.0.0.1/", RunOptions(browsers=("chromium",)))
        save_cases(session, ad_hoc.id, [_spec(c) for c in ("a", "b", "c")])
        run_id, ad_hoc_id = run.id, ad_hoc.id
    ordered = [s.id.split(":")[1] for s in executor_signatures(engine, run_id)]
    assert ordered == ["d", "c", "a", "b"]
    assert [s.id.split(":")[1] for s in executor_signatures(engine, ad_hoc_id)] == ["a", "b", "c"]
    plain = plan_fan_out("r-x", RunOptions(browsers=("chromium",)), [_spec("a"), _spec("b")])
    assert [j.spec.id for j in plain] == ["a", "b"]


def test_a_proposal_is_updated_not_duplicated_and_a_rejection_holds_until_the_score_rises(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    _history(engine, {"shaky": "P" * 12})

    def sync(score: float, threshold: float = 0.8) -> dict[str, int]:
        wanted = Candidate("s-1", "shaky", "chromium", score, 20, f"score {score}")
        candidates = [wanted] if score >= threshold else []
        with session_scope(engine, write=True) as session:
            return sync_proposals(session, candidates, {wanted.key: score}, threshold)

    def proposals() -> list[QuarantineProposal]:
        with session_scope(engine) as session:
            return list_proposals(session, None)[0]

    assert sync(0.82)["new"] == 1
    assert sync(0.85) == {"new": 0, "updated": 1, "withdrawn": 0}
    [row] = proposals()
    assert (row.status, row.score) == ("pending", 0.85)
    with session_scope(engine, write=True) as session:
        decide(session, row.id, accept=False, by="ana")
    assert sync(0.85 + REPROPOSE_MARGIN / 2)["new"] == 0  # not clearly higher than when rejected
    assert sync(0.85 + REPROPOSE_MARGIN + 0.01)["new"] == 1
    assert sorted(r.status for r in proposals()) == ["pending", "rejected"]
    # A pending proposal whose test steadied is withdrawn
    assert sync(0.5)["withdrawn"] == 1
    assert sorted(r.status for r in proposals()) == ["rejected", "withdrawn"]


def test_accepting_a_proposal_quarantines_the_test_in_its_suite_and_only_then(
    tmp_path: Path,
) -> None:
    from matf.errors import Conflict

    engine = _engine(tmp_path)
    _history(engine, {"shaky": "PFPFPFPFPFPF", "fine": "P" * 12})
    detail = scheduled_analysis(engine, _settings(), now=NOW)
    assert (detail["flaky"], detail["proposals_new"]) == (1, 1)
    again = scheduled_analysis(engine, _settings(), now=NOW)
    assert (again["proposals_new"], again["proposals_updated"]) == (0, 1)
    with session_scope(engine) as session:
        [row], total = list_proposals(session)
        assert total == 1 and row.case_id == "shaky" and row.suite_id == "s-1"
        assert plan_suite(session, "s-1", None).quarantined == []  # nothing applied by itself
        stored = latest_analysis(session)
        assert stored is not None and stored.findings["quarantine"][0]["case_id"] == "shaky"
    with session_scope(engine, write=True) as session:
        done = decide(session, row.id, accept=True, by="ana")
        assert (done.status, done.applied_to, done.decided_by) == ("accepted", "suite s-1", "ana")
    with session_scope(engine, write=True) as session, pytest.raises(Conflict):
        decide(session, row.id, accept=False, by="ana")
    with session_scope(engine) as session:
        assert plan_suite(session, "s-1", None).quarantined == ["shaky"]
    later = scheduled_analysis(engine, _settings(), now=NOW)
    assert later["proposals_new"] == 0  # quarantined already


def test_the_migration_adds_and_removes_the_optimizer_tables(tmp_path: Path) -> None:
    from tests.migrating import migrate_to

    engine = _engine(tmp_path)
    assert int(head_revision()) >= 11  # 0011 added them; later revisions keep them
    tables = {"optimizer_analyses", "quarantine_proposals"}
    assert tables <= set(inspect(engine).get_table_names())
    migrate_to(engine, "0010", down=True)
    assert not tables & set(inspect(engine).get_table_names())
    migrate_to(engine, "head")
    assert tables <= set(inspect(engine).get_table_names())


def _matf(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "optimize", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_the_optimize_commands_analyse_list_and_decide(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    _history(engine, {"shaky": "PFPFPFPFPFPF", "broken": "F" * 12})
    ran = _matf(tmp_path, "run")
    assert ran.returncode == 0, ran.stderr
    assert "1 flaky, 1 always failing" in ran.stdout and "1 new" in ran.stdout
    listed = _matf(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.splitlines() if ln.startswith("q-")]
    assert "shaky" in line and "pending" in line and "flakiest:" in listed.stdout
    accepted = _matf(tmp_path, "accept", line.split()[0])
    assert accepted.returncode == 0 and "quarantined in suite s-1" in accepted.stdout
    missing = _matf(tmp_path, "reject", "q-nope")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "matf: error: no quarantine proposal 'q-nope'"
    twice = _matf(tmp_path, "reject", line.split()[0])
    assert twice.returncode == 2 and "Traceback" not in twice.stderr
    assert "it is accepted, not pending" in twice.stderr
    bad = _matf(tmp_path, "run", "--threshold", "2")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
