"""What travels in the messages when executors share no disk: limits, paths, baselines."""

from __future__ import annotations

import base64
from pathlib import Path

from matf.pipeline.fanout import ExecutorJob, ShippedFile
from matf.pipeline.shipping import MB, Shipping, land, pack, with_baselines
from matf.results import Artifacts, TestResult, VisualCheck
from matf.spec import TestSpec
from tests.conftest import make_settings


def _result(**artifacts: str) -> TestResult:
    return TestResult(
        run_id="r1", case_id="c1", name="c1", kind="functional", category="custom",
        browser="chromium", status="failed", url="http://site.test/",
        artifacts=Artifacts(**artifacts),
    )  # fmt: skip


def _file(root: Path, path: str, size: int) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_bytes(b"x" * size)


def test_what_does_not_fit_stays_behind_and_the_result_says_so(tmp_path: Path) -> None:
    _file(tmp_path, "r1/c1.png", 1000)
    _file(tmp_path, "r1/c1.zip", 5000)
    result = _result(screenshot="r1/c1.png", trace="r1/c1.zip", withheld="a secret was typed")
    packed, files = pack(result, tmp_path, limit_bytes=4000)
    assert [f.path for f in files] == ["r1/c1.png"]  # the screenshot first: it fits
    assert base64.b64decode(files[0].data) == b"x" * 1000
    assert packed.artifacts.screenshot == "r1/c1.png" and packed.artifacts.trace is None
    assert packed.artifacts.withheld == (
        "a secret was typed; not sent to the reporter, over the 0 MB a result carries "
        "(ARTIFACT_MESSAGE_MB): c1.zip (0.0 MB)"
    )


def test_visual_evidence_travels_before_trace_and_video(tmp_path: Path) -> None:
    for path in ("r1/a.actual.png", "r1/a.diff.png", "r1/c1.webm"):
        _file(tmp_path, path, 10)
    check = VisualCheck(
        name="a", key="k", status="changed", width=1, height=1,
        actual="r1/a.actual.png", diff="r1/a.diff.png",
    )  # fmt: skip
    result = _result(video="r1/c1.webm").model_copy(update={"visual": [check]})
    _packed, files = pack(result, tmp_path, limit_bytes=MB)
    assert [f.path for f in files] == ["r1/a.diff.png", "r1/a.actual.png", "r1/c1.webm"]


def test_only_the_files_a_result_names_land_and_never_outside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    data = base64.b64encode(b"png").decode()
    result = _result(screenshot="r1/c1.png", trace="../escape.zip")
    files = [
        ShippedFile(path="r1/c1.png", data=data),
        ShippedFile(path="../escape.zip", data=data),  # named, but it would leave the folder
        ShippedFile(path="r1/other.png", data=data),  # not named by the result
    ]
    assert land(result, files, root) == 1
    assert [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()] == ["r1/c1.png"]
    assert not (tmp_path / "escape.zip").exists()


def test_a_visual_job_carries_its_browsers_baselines_within_the_limit(tmp_path: Path) -> None:
    spec = TestSpec.model_validate(
        {
            "id": "home",
            "name": "home",
            "url": "http://site.test:8080/",
            "steps": [{"action": "goto", "url": "/"}, {"action": "check_visual"}],
        }
    )
    folder = tmp_path / "site.test_8080" / "home"
    _file(folder, "page-chromium-desktop.png", 100)
    _file(folder, "page-firefox-desktop.png", 100)
    job = ExecutorJob(run_id="r1", spec=spec, browser="chromium")
    carried = with_baselines(job, tmp_path, limit_bytes=MB)
    assert [f.path for f in carried.baselines] == ["site.test_8080/home/page-chromium-desktop.png"]
    assert with_baselines(job, tmp_path, limit_bytes=50).baselines == ()  # over: none travels
    plain = spec.model_copy(update={"steps": spec.steps[:1]})
    assert with_baselines(job.model_copy(update={"spec": plain}), tmp_path, MB).baselines == ()


def test_nothing_travels_in_one_process_or_on_a_shared_disk(tmp_path: Path) -> None:
    assert Shipping.of(make_settings(tmp_path), embedded=True) is None
    shared = make_settings(tmp_path, artifact_transport="shared")
    assert Shipping.of(shared, embedded=False) is None
    shipping = Shipping.of(make_settings(tmp_path, artifact_message_mb=3), embedded=False)
    assert shipping is not None and shipping.limit_bytes == 3 * MB
