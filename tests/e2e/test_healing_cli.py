"""Healing reviewed, end to end: ``matf write``, a redesign, ``matf run``, ``matf heal``.

Real embedded Celery workers and real Chromium, as a user runs them: the
heuristic writer saves a suite for version 1 of a sign-up page; version 2
renames its field and button; the run fails (the verdict stands), the healer
proposes the locators it proved by a re-run, and only a person's ``accept``
changes the suite file, after which the suite passes again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matf.spec import load_suite, same_but_locators
from tests.conftest import run_matf
from tests.drift_site import DriftSite

FORM = "form-root"


def _run(folder: Path, url: str, out: str) -> tuple[int, dict[str, Any], str]:
    proc = run_matf(["run", url, "--suite", "suite.json", "--out", out], folder, TEST_RETRIES="0")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads((folder / out / "report.json").read_text()), proc.stdout


def test_a_redesign_is_healed_only_when_a_person_accepts(tmp_path: Path) -> None:
    with DriftSite(version=1) as site:
        written = run_matf(
            ["write", site.url, "--output", "suite.json", "--max-pages", "1"], tmp_path
        )
        assert written.returncode == 0, written.stderr
        original = load_suite(tmp_path / "suite.json")
        assert FORM in {t.id for t in original.tests}

        site.version = 2
        code, report, stdout = _run(tmp_path, site.url, "drifted")
        assert code == 1
        [form] = [t for t in report["tests"] if t["case_id"] == FORM]
        assert form["status"] == "failed" and form["triage"]["kind"] == "ui-drift"
        assert form["healing"]["outcome"] == "passed"
        assert [c["source"] for c in form["healing"]["changes"]] == ["alternative"] * 2
        run_id = report["run"]["id"]
        assert report["run"]["healing"]["proposals"] == 1
        assert report["run"]["healing"]["calls"] == 0
        assert f"matf heal list --run {run_id}" in stdout
        assert load_suite(tmp_path / "suite.json") == original  # nothing changed on its own

        listed = run_matf(["heal", "list", "--json"], tmp_path)
        [proposal] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert proposal["run_id"] == run_id and proposal["status"] == "pending"
        assert proposal["suite_file"] == str((tmp_path / "suite.json").resolve())

        accepted = run_matf(["heal", "accept", proposal["id"]], tmp_path)
        assert accepted.returncode == 0, accepted.stderr
        assert "suite.json" in accepted.stdout
        healed = load_suite(tmp_path / "suite.json")
        [before] = [t for t in original.tests if t.id == FORM]
        [after] = [t for t in healed.tests if t.id == FORM]
        assert after != before and same_but_locators(before, after)
        assert [t for t in healed.tests if t.id != FORM] == [
            t for t in original.tests if t.id != FORM
        ]

        again = run_matf(["heal", "accept", proposal["id"]], tmp_path)
        assert again.returncode == 2 and "it is accepted, not pending" in again.stderr

        code, report, _stdout = _run(tmp_path, site.url, "healed")
        assert code == 0, [t["error"] for t in report["tests"] if t["status"] != "passed"]
        assert report["run"]["healing"] is None


def test_a_proposal_can_be_rejected_and_the_suite_stays(tmp_path: Path) -> None:
    with DriftSite(version=1) as site:
        assert (
            run_matf(
                ["write", site.url, "--output", "suite.json", "--max-pages", "1"], tmp_path
            ).returncode
            == 0
        )
        original = (tmp_path / "suite.json").read_text()
        site.version = 2
        _code, report, _stdout = _run(tmp_path, site.url, "drifted")
        listed = run_matf(["heal", "list", "--run", report["run"]["id"], "--json"], tmp_path)
        [proposal] = [json.loads(line) for line in listed.stdout.splitlines()]
        rejected = run_matf(["heal", "reject", proposal["id"]], tmp_path)
        assert rejected.returncode == 0 and f"rejected {proposal['id']}" in rejected.stdout
        assert (tmp_path / "suite.json").read_text() == original
        assert "no pending healing proposals" in run_matf(["heal", "list"], tmp_path).stdout

        # Later runs of the suite never propose again what a person refused.
        refused: set[str] = set()
        for attempt in ("again", "third"):
            refused |= {json.dumps(c["after"], sort_keys=True) for c in proposal["changes"]}
            _code, report, _stdout = _run(tmp_path, site.url, attempt)
            [form] = [t for t in report["tests"] if t["case_id"] == FORM]
            assert form["status"] == "failed", form
            changes = form["healing"]["changes"]
            assert not refused & {json.dumps(c["after"], sort_keys=True) for c in changes}
            if attempt == "again":  # other stored locators still fit: a new proposal
                assert form["healing"]["outcome"] == "passed", form["healing"]
                listed = run_matf(["heal", "list", "--json"], tmp_path)
                [proposal] = [json.loads(line) for line in listed.stdout.splitlines()]
                assert run_matf(["heal", "reject", proposal["id"]], tmp_path).returncode == 0
        # The button had two stored locators, both refused now: nothing is left to propose.
        assert form["healing"]["outcome"] != "passed"
        assert "2 locator(s) rejected in review are not proposed again" in (
            form["healing"]["error"] or ""
        )
        missing = run_matf(["heal", "accept", "h-nope"], tmp_path)
        assert missing.returncode != 0 and "no healing proposal 'h-nope'" in missing.stderr
