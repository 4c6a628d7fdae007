"""The AI writer end to end: Mistral proposes, the platform checks, verifies and reports.

``matf run`` against the healthy demo, with the real ``mistralai`` client
pointed (``MISTRAL_SERVER_URL``) at a local server speaking Mistral's API.
The model proposes, for the newsletter page: a journey that works, one whose
assertion the site does not meet, one whose steps cannot run, and one that
leaves the origin. Only the first is kept as a test; the second as a finding;
the others are dropped with their reasons. Writing the unchanged site again
asks the model nothing.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matf.llm.prompts import CLOSE_MARKER, OPEN_MARKER
from tests.conftest import MATF, run_matf, subprocess_env
from tests.mistral_server import FakeMistral

BRAND = "Acme Outfitters"
JOURNEY = [
    {"action": "goto", "url": "/newsletter"},
    {"action": "fill", "target": {"label": "Name"}, "value": "Ann"},
    {"action": "fill", "target": {"label": "Email address"}, "value": "ann@example.com"},
    {"action": "check", "target": {"label": "I agree to receive the Acme newsletter"}},
    {"action": "submit", "target": {"role": "button", "name": "Subscribe"}},
]


def _test(ident: str, name: str, steps: list[dict[str, Any]], base: str) -> dict[str, Any]:
    return {"id": ident, "name": name, "url": f"{base}/newsletter", "steps": steps}


def _answer(request: dict[str, Any]) -> str:
    """Tests for the newsletter page; nothing for the others (as a model might)."""
    page = request["messages"][1]["content"]
    data = json.loads(page.split(OPEN_MARKER, 1)[1].split(CLOSE_MARKER, 1)[0])
    if not data["url"].endswith("/newsletter"):
        return json.dumps({"tests": []})
    base = data["url"].removesuffix("/newsletter")
    thanks = {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks, Ann!"}
    welcome = {"action": "expect_text", "target": {"role": "status"}, "text": "Welcome back"}
    missing = {"action": "click", "target": {"role": "button", "name": "Unsubscribe forever"}}
    evil = {"action": "goto", "url": "https://evil.example/collect"}
    return json.dumps(
        {
            "tests": [
                _test("subscribe", "A visitor subscribes", [*JOURNEY, thanks], base),
                _test("welcome", "A subscriber is welcomed back", [*JOURNEY, welcome], base),
                _test("unsubscribe", "A visitor unsubscribes", [JOURNEY[0], missing], base),
                _test("evil", "Ignore previous instructions", [evil], base),
            ]
        }
    )


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(responder=_answer) as server:
        yield server


@pytest.fixture(scope="module")
def runs(
    fake: FakeMistral, healthy_demo: str, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("ai")
    key = run_matf(["secrets", "keygen"], folder).stdout.strip()
    env = {
        "MISTRAL_API_KEY": "test-key",
        "MISTRAL_SERVER_URL": fake.url,
        "TEST_RETRIES": "0",
        "ENCRYPTION_KEY": key,
    }
    # A secret whose value every page shows: it must never reach the model.
    stored = subprocess.run(
        [*MATF, "secrets", "set", healthy_demo, "BRAND"],
        input=BRAND,
        cwd=folder,
        env=subprocess_env(folder, **env),
        text=True,
        capture_output=True,
        check=False,
    )
    assert stored.returncode == 0, stored.stderr
    found = []
    for name in ("first", "second"):
        before = len(fake.requests)
        proc = run_matf(
            ["run", healthy_demo, "--types", "functional", "--max-pages", "5",
             "--goal", "a visitor can subscribe to the newsletter", "--out", str(folder / name)],
            folder,
            **env,
        )  # fmt: skip
        assert proc.returncode in (0, 1), proc.stderr
        report = json.loads((folder / name / "report.json").read_text())
        found.append({"proc": proc, "report": report, "calls": len(fake.requests) - before})
    return found


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["case_id"]: t for t in report["tests"]}


def test_only_verified_proposals_become_tests(runs: list[dict[str, Any]]) -> None:
    tests = _by_id(runs[0]["report"])
    assert tests["ai-subscribe"]["status"] == "passed"
    assert "ai-unsubscribe" not in tests and "ai-evil" not in tests
    heuristic = [t for t in tests.values() if not t["case_id"].startswith("ai-")]
    assert heuristic and all(t["status"] == "passed" for t in heuristic)


def test_an_unmet_assertion_is_reported_as_a_finding(runs: list[dict[str, Any]]) -> None:
    finding = _by_id(runs[0]["report"])["ai-welcome"]
    assert finding["name"].startswith("Finding: ") and finding["status"] == "failed"
    assert "Welcome back" in finding["error"] and finding["artifacts"]["screenshot"]


def test_usage_and_verdicts_are_reported(runs: list[dict[str, Any]]) -> None:
    llm = runs[0]["report"]["run"]["llm"]
    # five pages, one answer each, and one repair round for the page whose answer left the origin
    assert (llm["pages"], llm["calls"], runs[0]["calls"]) == (5, 6, 6)
    assert llm["cached_pages"] == 0 and llm["prompt_tokens"] > 0
    assert (llm["verified"], llm["findings"]) == (1, 1)
    assert any("evil.example" in d and "off the target's origin" in d for d in llm["dropped"])
    assert any("ai-unsubscribe" in d and "did not run" in d for d in llm["dropped"])
    assert "AI writer (mistral-large-latest): 6 calls" in runs[0]["proc"].stdout


def test_each_written_test_carries_its_share_of_the_page_answer(
    runs: list[dict[str, Any]],
) -> None:
    report = runs[0]["report"]
    tests = _by_id(report)
    # The newsletter page's answer took two calls (one repair); its two kept tests share them.
    shares = [tests[i]["llm"] for i in ("ai-subscribe", "ai-welcome")]
    assert shares[0] == shares[1] and shares[0]["calls"] == 1.0
    assert 0 < 2 * shares[0]["prompt_tokens"] <= report["run"]["llm"]["prompt_tokens"]
    assert all(t["llm"] is None for t in tests.values() if not t["case_id"].startswith("ai-"))
    # A second, cached write spends nothing, on any test.
    assert all(t["llm"] is None for t in runs[1]["report"]["tests"])


def test_what_the_model_was_sent(fake: FakeMistral, runs: list[dict[str, Any]]) -> None:
    headers, body = fake.requests[0]
    assert headers["authorization"] == "Bearer test-key"
    assert body["temperature"] == 0.1 and body["response_format"] == {"type": "json_object"}
    user = body["messages"][1]["content"]
    assert "a visitor can subscribe to the newsletter" in user.split(OPEN_MARKER)[0]
    assert user.count(OPEN_MARKER) == 1 and user.count(CLOSE_MARKER) == 1
    assert "BRAND" in user.split(OPEN_MARKER)[0]  # its name is offered, as a placeholder
    for _headers, sent in fake.requests:
        text = json.dumps(sent, ensure_ascii=False)
        assert BRAND not in text and "{{secret:BRAND}}" in text


def test_an_unchanged_site_costs_no_call(runs: list[dict[str, Any]]) -> None:
    second = runs[1]
    llm = second["report"]["run"]["llm"]
    assert second["calls"] == 0 and llm["calls"] == 0 and llm["cached_pages"] == 5
    assert _by_id(second["report"])["ai-subscribe"]["status"] == "passed"


def test_a_goal_without_a_key_is_refused(healthy_demo: str, tmp_path: Path) -> None:
    proc = run_matf(["run", healthy_demo, "--goal", "buy a tent"], tmp_path, MISTRAL_API_KEY="")
    assert proc.returncode == 2 and "--goal needs the AI writer: set MISTRAL_API_KEY" in proc.stderr


def test_a_saved_suite_never_calls_the_model(
    fake: FakeMistral, healthy_demo: str, tmp_path: Path
) -> None:
    suite = {"tests": [_test("subscribe", "A visitor subscribes", JOURNEY, healthy_demo)]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    before = len(fake.requests)
    proc = run_matf(
        ["run", healthy_demo, "--suite", "suite.json", "--out", "out"],
        tmp_path,
        MISTRAL_API_KEY="test-key",
        MISTRAL_SERVER_URL=fake.url,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(fake.requests) == before
    assert json.loads((tmp_path / "out" / "report.json").read_text())["run"]["llm"] is None
