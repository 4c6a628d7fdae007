"""A whole run on a site built to break the writer completes; its reports say what was left out."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from matf.spec import load_suite
from tests.breaker_site import BreakerSite
from tests.conftest import ROOT, run_matf


def test_a_run_on_the_breaker_site_completes_and_reports_what_it_dropped(tmp_path: Path) -> None:
    # Given a site whose names, characters and sizes break naive test writing
    with BreakerSite(distinct_links=20) as site:
        # When MATF explores it and runs what it wrote
        proc = run_matf(
            ["run", f"{site.url}/", "--types", "functional", "--max-pages", "11"]
            + ["--out", str(tmp_path / "out")],
            tmp_path,
        )
    # Then the run ends with a verdict on its tests, not with an error
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr and "invalid spec" not in proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(report, schema)
    assert report["run"]["status"] in ("passed", "failed") and report["tests"]
    # And its report lists the tests it left out, each with its reason
    exploration = report["run"]["exploration"]
    assert exploration["pages"] >= 6
    reasons = [d["reason"] for d in exploration["dropped"]]
    assert any("characters long" in r and "no other way to find it" in r for r in reasons)
    assert any("steps: List should have at most 200 items" in r for r in reasons)
    assert all(d["id"] and d["name"] for d in exploration["dropped"])
    rows = [t for t in exploration["templates"] if t["template"] == "/rows/{id}"]
    assert [row["sampled"][:2] for row in rows] == [[f"{site.url}/rows/0", f"{site.url}/rows/1"]]
    assert len(rows[0]["sampled"]) + rows[0]["skipped"] == 20 and rows[0]["skipped"] >= 18
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'id="exploration-heading"' in html and "Tests left out as invalid" in html


def test_matf_write_on_the_breaker_site_saves_a_valid_suite_and_says_what_it_left_out(
    tmp_path: Path,
) -> None:
    with BreakerSite(distinct_links=20) as site:
        proc = run_matf(["write", f"{site.url}/", "-o", "suite.json", "--max-pages", "8"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    suite = load_suite(tmp_path / "suite.json")
    assert len({spec.id for spec in suite.tests}) == len(suite.tests)
    left_out = [line for line in proc.stderr.splitlines() if line.startswith("left out (invalid)")]
    assert any("at most 200 items" in line for line in left_out), proc.stderr
    assert all(line.isprintable() for line in left_out)
