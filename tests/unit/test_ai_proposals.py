"""The model's answers are data: checked by the spec schema, kept on origin, repaired once.

The model is the real ``mistralai`` client talking to a local server that
speaks Mistral's chat-completions API (``tests/mistral_server.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matf.ai.proposals import check_answer, propose
from matf.llm.gateway import MistralGateway
from matf.storage.db import get_engine, session_scope
from matf.storage.llm_cache import answer_key, cached_answer, store_answer
from tests.conftest import make_settings
from tests.mistral_server import FakeMistral

ORIGIN = "http://shop.test"


def _spec(ident: str = "subscribe", **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "id": ident,
        "name": "A visitor subscribes to the newsletter",
        "url": f"{ORIGIN}/newsletter",
        "steps": [
            {"action": "goto", "url": "/newsletter"},
            {"action": "fill", "target": {"label": "Email"}, "value": "ann@example.com"},
            {"action": "submit", "target": {"role": "button", "name": "Subscribe"}},
            {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks"},
        ],
    }
    spec.update(extra)
    return spec


def _answer(*specs: dict[str, Any]) -> str:
    return json.dumps({"tests": list(specs)})


def test_a_good_answer_becomes_namespaced_specs() -> None:
    specs, problems = check_answer(_answer(_spec(), _spec("ai-browse")), ORIGIN)
    assert problems == []
    assert [s.id for s in specs] == ["ai-subscribe", "ai-browse"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Sure! Here are your tests:", "the answer is not JSON"),
        ('{"specs": []}', 'must be a JSON object {"tests"'),
        (_answer(_spec(steps=[])), "tests[0]: steps: List should have at least 1 item"),
        (
            _answer(_spec(steps=[{"action": "run_js", "code": "alert(1)"}])),
            "tests[0]: steps.0: Input tag 'run_js' found using 'action' does not match",
        ),
        (
            _answer(_spec(steps=[{"action": "goto", "url": "https://evil.example/steal"}])),
            "goes to https://evil.example/steal, off the target's origin",
        ),
        (
            _answer(_spec(url="https://evil.example/")),
            "its url https://evil.example/ is off the target's origin",
        ),
        (
            _answer(_spec(steps=[{"action": "goto", "url": "javascript:alert(1)"}])),
            "off the target's origin",
        ),
        (
            _answer(
                _spec(
                    steps=[
                        {"action": "goto", "url": "/login"},
                        {
                            "action": "fill",
                            "target": {"label": "Password"},
                            "value": "{{secret:ROOT}}",
                        },
                    ]
                )
            ),
            "unknown secret 'ROOT' (available: PASSWORD)",
        ),
        (
            _answer(
                _spec(
                    steps=[
                        {"action": "goto", "url": "/"},
                        {"action": "fill", "target": {"label": "Q"}, "value": "{{ config.key }}"},
                    ]
                )
            ),
            "only {{secret:NAME}} placeholders are allowed",
        ),
        (_answer(_spec(), _spec()), "duplicate id 'ai-subscribe'"),
    ],
)  # fmt: skip
def test_bad_answers_are_refused_with_the_reason(text: str, problem: str) -> None:
    specs, problems = check_answer(text, ORIGIN, ["PASSWORD"])
    assert any(problem in line for line in problems), problems


def test_a_known_secret_placeholder_is_kept_as_a_placeholder() -> None:
    login = _spec(
        "login",
        steps=[
            {"action": "goto", "url": "/login"},
            {"action": "fill", "target": {"label": "Password"}, "value": "{{secret:PASSWORD}}"},
        ],
    )
    [spec], problems = check_answer(_answer(login), ORIGIN, ["PASSWORD"])
    assert problems == [] and spec.steps[1].value == "{{secret:PASSWORD}}"  # type: ignore[union-attr]


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


def _gateway(tmp_path: Path, fake: FakeMistral) -> MistralGateway:
    settings = make_settings(
        tmp_path, mistral_api_key="test-key", mistral_server_url=fake.url, mistral_retries=0
    )
    return MistralGateway(settings, sleep=lambda _s: None)


MESSAGES = [{"role": "system", "content": "write tests"}, {"role": "user", "content": "page"}]


def test_a_broken_answer_gets_one_repair_round(tmp_path: Path, fake: FakeMistral) -> None:
    fake.reply(_answer(_spec(), _spec("bad", steps=[])), prompt_tokens=900, completion_tokens=300)
    fake.reply(_answer(_spec("bad")), prompt_tokens=1200, completion_tokens=200)
    gateway = _gateway(tmp_path, fake)
    proposal = propose(gateway.complete, MESSAGES, ORIGIN)
    assert sorted(s.id for s in proposal.specs) == ["ai-bad", "ai-subscribe"]
    assert proposal.dropped == [] and proposal.calls == 2
    assert (proposal.prompt_tokens, proposal.completion_tokens) == (2100, 500)
    repair = fake.requests[1][1]["messages"]
    assert repair[-2]["role"] == "assistant" and "tests[1]" in repair[-1]["content"]


def test_what_is_still_wrong_after_the_repair_is_dropped(tmp_path: Path, fake: FakeMistral) -> None:
    evil = _spec("evil", steps=[{"action": "goto", "url": "https://evil.example/"}])
    fake.reply(_answer(_spec(), evil))
    fake.reply(_answer(evil))
    proposal = propose(_gateway(tmp_path, fake).complete, MESSAGES, ORIGIN)
    assert [s.id for s in proposal.specs] == ["ai-subscribe"]
    assert len(proposal.dropped) == 1 and "off the target's origin" in proposal.dropped[0]
    assert len(fake.requests) == 2  # one repair, never more


def test_without_room_for_a_repair_what_is_wrong_is_dropped_at_once(
    tmp_path: Path, fake: FakeMistral
) -> None:
    fake.reply(_answer(_spec(), _spec("bad", steps=[])))
    fake.reply(_answer(_spec("bad")))  # a repair would have fixed it: never asked for
    proposal = propose(_gateway(tmp_path, fake).complete, MESSAGES, ORIGIN, repair=False)
    assert [s.id for s in proposal.specs] == ["ai-subscribe"] and proposal.calls == 1
    assert len(fake.requests) == 1
    [reason] = proposal.dropped
    assert "tests[1]" in reason and reason.endswith(
        "(not repaired: the run's call budget is spent)"
    )


def test_checked_answers_are_cached_by_page_model_and_prompt(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    specs, _problems = check_answer(_answer(_spec()), ORIGIN)
    key = answer_key("fp-1", "mistral-large-latest", "1", ["subscribe"])
    assert key != answer_key("fp-2", "mistral-large-latest", "1", ["subscribe"])
    assert key != answer_key("fp-1", "mistral-small-latest", "1", ["subscribe"])
    assert key != answer_key("fp-1", "mistral-large-latest", "2", ["subscribe"])
    assert key == answer_key("fp-1", "mistral-large-latest", "1", ["subscribe"])
    with session_scope(engine, write=True) as session:
        assert cached_answer(session, key) is None
        store_answer(
            session, key, model="mistral-large-latest", prompt_version="1",
            url=f"{ORIGIN}/newsletter", specs=specs, dropped=["x"], prompt_tokens=10,
            completion_tokens=5,
        )  # fmt: skip
    with session_scope(engine) as session:
        found = cached_answer(session, key)
    assert found is not None and found[0] == specs and found[1] == ["x"]
