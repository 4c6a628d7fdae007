"""Bad input gets one clear line and exit code 2; nothing is left half-written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.conftest import run_matf
from tests.services import free_port


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _runs(folder: Path) -> list[models.Run]:
    engine = get_engine(f"sqlite:///{folder / 'matf.db'}")
    with session_scope(engine) as session:
        return list(session.scalars(select(models.Run)))


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("not a url", "give a full URL"),
        ("ftp://example.com/", "unsupported URL scheme 'ftp'"),
        ("http://", "no host"),
        ("http://exa mple.com:99999/", "invalid URL"),
    ],
)
def test_a_bad_url_is_refused_before_anything_starts(url: str, needle: str, tmp_path: Path) -> None:
    proc = run_matf(["run", url], tmp_path)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "matf.db").exists()


def test_an_unreachable_target_marks_its_run_as_error_with_the_reason(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    proc = run_matf(["run", url, "--out", "out"], tmp_path)
    assert_one_line_error(proc, "target unreachable", "connection refused")
    [run] = _runs(tmp_path)
    assert run.status == "error" and "connection refused" in (run.error or "")
    assert not (tmp_path / "out" / "report.json").exists()


def test_a_site_answering_500_on_its_first_page_is_refused(demo: str, tmp_path: Path) -> None:
    proc = run_matf(["run", f"{demo}/lab/flaky?key=cli-500&fail=1000000"], tmp_path)
    assert_one_line_error(proc, "answered HTTP 500")
    [run] = _runs(tmp_path)
    assert run.status == "error" and "HTTP 500" in (run.error or "")


def test_an_invalid_suite_names_the_problem_and_starts_no_run(demo: str, tmp_path: Path) -> None:
    suite = {
        "version": 1,
        "tests": [
            {
                "id": "a",
                "name": "a",
                "url": f"{demo}/",
                "steps": [{"action": "run_js", "code": "alert(1)"}],
            }
        ],
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    proc = run_matf(["run", demo, "--suite", "suite.json"], tmp_path)
    assert_one_line_error(proc, "suite.json", "tests.0.steps.0", "run_js")
    assert not (tmp_path / "matf.db").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--types", "functional,speed"], "unknown type 'speed'"),
        (["--browsers", "netscape"], "unknown browser 'netscape'"),
        (["--max-pages", "0"], "--max-pages"),
        (["--max-interactions", "-1"], "--max-interactions"),
        (["--max-depth", "0"], "--max-depth"),
        (["--suite", "missing.json"], "cannot read suite"),
    ],
)
def test_bad_options_get_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    assert_one_line_error(run_matf(["run", "http://127.0.0.1:9/", *args], tmp_path), needle)


def test_a_bad_setting_names_its_variable(tmp_path: Path) -> None:
    proc = run_matf(["run", "http://127.0.0.1:9/"], tmp_path, TEST_TIMEOUT="soon")
    assert_one_line_error(proc, "invalid TEST_TIMEOUT")


def test_distributed_mode_without_workers_says_which_to_start(
    demo: str, redis_url: str, tmp_path: Path
) -> None:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    proc = run_matf(["run", demo], tmp_path, REDIS_URL=redis_url)
    assert_one_line_error(proc, "no worker consumes queue", "make worker")


def test_distributed_mode_with_redis_down_says_so(demo: str, tmp_path: Path) -> None:
    proc = run_matf(["run", demo], tmp_path, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert_one_line_error(proc, "cannot reach the broker")
