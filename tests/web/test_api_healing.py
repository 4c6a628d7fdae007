"""Healing proposals through the API: listed, shown, accepted into the saved suite, rejected.

The real API on a real HTTP server and a real SQLite file. Proposals are stored
as the reporter stores them (``record_proposals`` from a healed result), so each
test knows exactly which locator changes and where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from matf.options import RunOptions
from matf.results import Healing, LocatorChange, TestResult
from matf.spec import Locator, TestSpec, retarget, same_but_locators
from matf.storage.db import get_engine, session_scope
from matf.storage.healing import record_proposals
from matf.storage.models import HealingProposal
from matf.storage.runs import create_run
from matf.storage.suites import create_suite
from tests.apiserver import ApiServer, finished
from tests.conftest import server_settings
from tests.drift_site import DriftSite

TARGET = "http://shop.test/"
BEFORE = {"role": "button", "name": "Subscribe", "exact": True}
AFTER = {"test_id": "subscribe", "exact": True}


def _spec(case_id: str) -> TestSpec:
    return TestSpec.model_validate(
        {
            "id": case_id,
            "name": f"{case_id}: subscribe to the newsletter",
            "url": TARGET,
            "tags": ["newsletter"],
            "steps": [
                {"action": "goto", "url": "/"},
                {"action": "click", "target": BEFORE},
                {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks"},
            ],
        }
    )


def _healed_result(spec: TestSpec, run_id: str) -> TestResult:
    """A failed result whose click found no button, and the healer's proposal for it."""
    change = LocatorChange(step=1, action="click", before=BEFORE, after=AFTER, source="alternative")
    healed = retarget(spec, 1, Locator.model_validate(AFTER))
    spec_json = healed.model_dump(mode="json", exclude_none=True)  # as the healer stores it
    healing = Healing(outcome="passed", changes=[change], spec=spec_json)
    return TestResult.for_spec(
        spec, "chromium", run_id, "failed", error="no element matches", healing=healing
    )


def _suite(api: ApiServer, *case_ids: str) -> str:
    engine = get_engine(api.settings.database_url)
    with session_scope(engine, write=True) as session:
        specs = [_spec(case_id) for case_id in case_ids]
        return create_suite(session, "Newsletter", TARGET, specs, "user:editor@example.com").id


def _proposal(api: ApiServer, case_id: str, suite_id: str | None) -> tuple[str, str]:
    """A run (from ``suite_id``, or from no saved suite) with one proposal: (run id, its id)."""
    engine = get_engine(api.settings.database_url)
    with session_scope(engine, write=True) as session:
        run = create_run(session, TARGET, RunOptions(types=("functional",)))
        run.suite_id = suite_id
        assert record_proposals(session, run, [_healed_result(_spec(case_id), run.id)]) == 1
        [proposal] = session.scalars(
            select(HealingProposal.id).where(HealingProposal.run_id == run.id)
        ).all()
        return run.id, proposal


def _case_spec(api: ApiServer, suite_id: str, case_id: str) -> TestSpec:
    with api.client("viewer") as viewer:
        answer = viewer.get(f"/api/v1/suites/{suite_id}/cases/{case_id}")
    assert answer.status_code == 200, answer.text
    return TestSpec.model_validate(answer.json()["spec"])


def test_proposals_are_listed_newest_first_with_filters(api: ApiServer) -> None:
    # Given three proposals: two from one suite's runs (the older one superseded), one more
    suite = _suite(api, "signup", "footer")
    old_run, old = _proposal(api, "signup", suite)
    new_run, new = _proposal(api, "signup", suite)
    _other_run, other = _proposal(api, "footer", suite)
    with api.client("viewer") as viewer:
        # When a viewer lists them
        pending = viewer.get("/api/v1/healing").json()
        everything = viewer.get("/api/v1/healing", params={"status": "all"}).json()
        superseded = viewer.get("/api/v1/healing", params={"status": "superseded"}).json()
        of_run = viewer.get("/api/v1/healing", params={"run": new_run, "status": "all"}).json()
        paged = viewer.get(
            "/api/v1/healing", params={"status": "all", "limit": 1, "offset": 1}
        ).json()
        unknown_run = viewer.get("/api/v1/healing", params={"run": "r-missing"}).json()
        bad = viewer.get("/api/v1/healing", params={"status": "maybe"})
        one = viewer.get(f"/api/v1/healing/{new}")
    # Then pending ones come by default, newest first, with their total
    assert [p["id"] for p in pending["items"]] == [other, new]
    assert pending["total"] == 2 and pending["limit"] == 50 and pending["offset"] == 0
    assert [p["id"] for p in everything["items"]] == [other, new, old]
    assert everything["total"] == 3
    assert [(p["id"], p["status"], p["run_id"]) for p in superseded["items"]] == [
        (old, "superseded", old_run)
    ]
    assert [p["id"] for p in of_run["items"]] == [new] and of_run["total"] == 1
    assert [p["id"] for p in paged["items"]] == [new] and paged["total"] == 3
    assert unknown_run == {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    # And one proposal shows what it changes, where, and the healed test
    assert one.status_code == 200, one.text
    shown = one.json()
    assert shown["run_id"] == new_run and shown["case_id"] == "signup"
    assert shown["suite_id"] == suite and shown["status"] == "pending"
    assert shown["outcome"] == "passed" and shown["decided_by"] is None
    assert shown["changes"] == [
        {"step": 1, "action": "click", "before": BEFORE, "after": AFTER, "source": "alternative"}
    ]
    assert shown["spec"]["steps"][1]["target"] == AFTER
    assert shown["links"] == {
        "self": f"/api/v1/healing/{new}",
        "run": f"/api/v1/runs/{new_run}",
        "case": f"/api/v1/suites/{suite}/cases/signup",
    }


def test_an_editor_accepts_a_proposal_into_the_saved_suite(api: ApiServer) -> None:
    # Given a saved suite of two tests, and a proposal for one of them
    suite = _suite(api, "signup", "footer")
    _run, proposal = _proposal(api, "signup", suite)
    original = _case_spec(api, suite, "signup")
    with api.client("viewer") as viewer, api.client("editor") as editor:
        # When a viewer tries to accept it, then an editor does
        refused = viewer.post(f"/api/v1/healing/{proposal}/accept")
        accepted = editor.post(f"/api/v1/healing/{proposal}/accept")
        again = editor.post(f"/api/v1/healing/{proposal}/accept")
        reject_after = editor.post(f"/api/v1/healing/{proposal}/reject")
        shown = viewer.get(f"/api/v1/healing/{proposal}").json()
    # Then only the editor may, and it is recorded as theirs
    assert refused.status_code == 403
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["status"] == "accepted" and body["decided_by"] == "user:editor@example.com"
    assert body["applied_to"] == f"suite {suite}" and body["decided_at"] is not None
    # And the saved test finds the button by the new locator, the old one kept as fallback
    healed = _case_spec(api, suite, "signup")
    step = healed.steps[1]
    assert step.target == Locator.model_validate(AFTER)  # type: ignore[union-attr]
    assert step.alternatives == [Locator.model_validate(BEFORE)]  # type: ignore[union-attr]
    # And nothing else changed: not the rest of the test, not the other test
    assert same_but_locators(original, healed)
    assert healed.steps[0] == original.steps[0] and healed.steps[2] == original.steps[2]
    assert _case_spec(api, suite, "footer") == _spec("footer")
    # And a decided proposal cannot be decided again
    assert again.status_code == 409
    assert again.json()["detail"] == f"cannot accept {proposal}: it is accepted, not pending"
    assert reject_after.status_code == 409 and "not pending" in reject_after.json()["detail"]
    assert shown["status"] == "accepted"


def test_an_editor_rejects_a_proposal_and_the_test_stays(api: ApiServer) -> None:
    suite = _suite(api, "signup")
    _run, proposal = _proposal(api, "signup", suite)
    with api.client("viewer") as viewer, api.client("editor", via="key") as editor:
        refused = viewer.post(f"/api/v1/healing/{proposal}/reject")
        rejected = editor.post(f"/api/v1/healing/{proposal}/reject")
        accept_after = editor.post(f"/api/v1/healing/{proposal}/accept")
        pending = viewer.get("/api/v1/healing").json()
        closed = viewer.get("/api/v1/healing", params={"status": "rejected"}).json()
    assert refused.status_code == 403
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decided_by"] == "key:editor key"  # the key that decided
    assert rejected.json()["applied_to"] is None
    assert accept_after.status_code == 409
    assert accept_after.json()["detail"] == f"cannot accept {proposal}: it is rejected, not pending"
    assert pending["total"] == 0
    assert [p["id"] for p in closed["items"]] == [proposal]
    assert _case_spec(api, suite, "signup") == _spec("signup")  # the test is as it was


def test_a_proposal_with_no_saved_suite_cannot_be_accepted(api: ApiServer) -> None:
    # Given a proposal from a run whose tests are in no saved suite
    run_id, proposal = _proposal(api, "signup", None)
    with api.client("editor") as editor:
        # When an editor accepts it
        answer = editor.post(f"/api/v1/healing/{proposal}/accept")
        shown = editor.get(f"/api/v1/healing/{proposal}").json()
    # Then it is refused, saying why in one line, and the proposal still waits
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert detail.startswith(f"cannot apply {proposal}: run {run_id}'s tests are in no saved suite")
    assert "\n" not in detail
    assert shown["status"] == "pending" and shown["decided_by"] is None
    assert "case" not in shown["links"]


def test_a_proposal_whose_suite_is_gone_is_a_conflict_not_a_missing_proposal(
    api: ApiServer,
) -> None:
    suite = _suite(api, "signup")
    _run, proposal = _proposal(api, "signup", suite)
    with api.client("editor") as editor:
        assert editor.delete(f"/api/v1/suites/{suite}").status_code == 204
        answer = editor.post(f"/api/v1/healing/{proposal}/accept")
        shown = editor.get(f"/api/v1/healing/{proposal}").json()
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"cannot apply {proposal}: no suite {suite!r}"
    assert shown["status"] == "pending"


def test_a_test_edited_since_the_proposal_is_not_overwritten(api: ApiServer) -> None:
    # Given a proposal, and then someone changes the click it heals by hand
    suite = _suite(api, "signup")
    _run, proposal = _proposal(api, "signup", suite)
    edited = _spec("signup").model_dump(mode="json")
    edited["steps"][1]["target"] = {"role": "button", "name": "Join", "exact": True}
    with api.client("editor") as editor:
        patched = editor.patch(f"/api/v1/suites/{suite}/cases/signup", json={"spec": edited})
        assert patched.status_code == 200, patched.text
        # When the proposal is accepted
        answer = editor.post(f"/api/v1/healing/{proposal}/accept")
        shown = editor.get(f"/api/v1/healing/{proposal}").json()
    # Then it is refused and the hand edit stands
    assert answer.status_code == 409
    assert "the test changed since" in answer.json()["detail"]
    assert shown["status"] == "pending"
    step = _case_spec(api, suite, "signup").steps[1]
    assert step.target == Locator.model_validate({"role": "button", "name": "Join"})  # type: ignore[union-attr]


def test_unknown_proposals_are_not_found(api: ApiServer) -> None:
    with api.client("editor") as editor:
        answers = [
            editor.get("/api/v1/healing/h-missing"),
            editor.post("/api/v1/healing/h-missing/accept"),
            editor.post("/api/v1/healing/h-missing/reject"),
        ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all(a.json()["detail"] == "no healing proposal 'h-missing'" for a in answers)


def test_a_saved_suite_is_healed_through_the_api_end_to_end(tmp_path: Path) -> None:
    # Real embedded workers and Chromium: a redesign fails the run, the healer's
    # proposal waits for an editor, and once accepted the suite passes again.
    journey = {
        "id": "signup",
        "name": "A visitor signs up",
        "steps": [
            {"action": "goto", "url": "/"},
            {
                "action": "fill",
                "target": {"label": "Email"},
                "alternatives": [{"test_id": "email-field"}],
                "value": "ann@example.com",
            },
            {
                "action": "click",
                "target": {"role": "button", "name": "Subscribe"},
                "alternatives": [{"test_id": "subscribe"}],
            },
            {
                "action": "expect_text",
                "target": {"role": "status"},
                "text": "Thanks for subscribing, ann@example.com",
            },
        ],
    }
    server = ApiServer(server_settings(tmp_path, test_retries=0)).start()
    try:
        with DriftSite(version=1) as site, server.client("editor") as editor:
            body = {"name": "signup", "target": site.url, "tests": [{**journey, "url": site.url}]}
            created = editor.post("/api/v1/suites", json=body)
            assert created.status_code == 201, created.text
            suite_id = created.json()["id"]

            def run(**extra: Any) -> dict[str, Any]:
                answer = editor.post("/api/v1/tests/execute", json={"suite_id": suite_id, **extra})
                assert answer.status_code == 202, answer.text
                return finished(editor, answer.json()["run_id"])

            site.version = 2
            drifted = run()
            assert drifted["status"] == "failed"
            listed = editor.get("/api/v1/healing", params={"run": drifted["id"]}).json()
            [proposal] = listed["items"]
            assert proposal["outcome"] == "passed" and proposal["suite_id"] == suite_id
            assert [c["after"] for c in proposal["changes"]] == [
                {"test_id": "email-field", "exact": True},
                {"test_id": "subscribe", "exact": True},
            ]

            accepted = editor.post(f"/api/v1/healing/{proposal['id']}/accept")
            assert accepted.status_code == 200, accepted.text
            assert accepted.json()["applied_to"] == f"suite {suite_id}"
            assert run()["status"] == "passed"

            def healing(run_id: str) -> Any:
                [result] = editor.get(f"/api/v1/runs/{run_id}/results").json()["items"]
                return result["healing"]

            site.version = 3  # the button loses its test id; without a key nothing finds it
            stuck = run()
            assert stuck["status"] == "failed" and healing(stuck["id"])["outcome"] == "none"
            assert "the model was not asked" in healing(stuck["id"])["error"]
            declined = run(heal=False)
            assert declined["status"] == "failed" and healing(declined["id"]) is None
            for ended in (stuck, declined):
                listed = editor.get("/api/v1/healing", params={"run": ended["id"], "status": "all"})
                assert listed.json()["total"] == 0
    finally:
        server.stop()
