"""Sequences of calls keep the contract: Schemathesis' stateful phase, valid and invalid data.

Run by test_api_stateful.py in an interpreter of its own (not collected here: see there).

The state machine chains operations through the links Schemathesis infers
from the document (create a suite, then read, change and delete it; create a
user, then change it; start a run, then read and cancel it), and mixes
positive with negative data in every step. Each answer is checked against
the document: no 5xx, a declared status, a declared content type and schema;
and, for the stateful chains, a resource just created can be read and one
just deleted is gone. Runs once as admin (every operation reachable) and once
without credentials. Derandomized, so CI sees the same sequences each time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ensure_resource_availability,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)

from matf.options import Limits, RunOptions
from matf.results import RunStatus
from matf.secrets.keyring import generate_key
from matf.spec import TestSpec
from matf.storage.db import get_engine, session_scope
from matf.storage.models import Base
from matf.storage.runs import create_run, finish_run, save_cases
from matf.storage.suites import create_suite
from tests.apiserver import ApiServer
from tests.conftest import server_settings

REFUSED_TARGET = "http://10.255.255.1/"  # whatever is generated, no run starts
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    use_after_free,
    ensure_resource_availability,
]
SCENARIOS = 60
STEPS = 10


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """Production settings: real secrets, no private target allowed, a limit out of the way."""
    settings = server_settings(
        tmp_path_factory.mktemp("stateful"),
        matf_env="production",
        jwt_secret=secrets.token_urlsafe(48),
        encryption_key=generate_key(),
        matf_allowed_targets="",
    )
    api = ApiServer(settings).start()
    _seed(api)
    yield api
    api.stop()


Rows = dict[str, list[dict[str, Any]]]


def _snapshot(server: ApiServer) -> Rows:
    """Every table's rows, to start each scenario from."""
    with get_engine(server.settings.database_url).connect() as db:
        return {
            table.name: [dict(row._mapping) for row in db.execute(table.select())]
            for table in Base.metadata.sorted_tables
        }


def _restore(server: ApiServer, rows: Rows) -> None:
    """The database as ``rows`` has it. Hypothesis replays a scenario's prefix and
    expects the same draws; a users list that grew or shrank in an earlier
    scenario changed them (FlakyStrategyDefinition)."""
    tables = Base.metadata.sorted_tables
    with get_engine(server.settings.database_url).begin() as db:
        for table in reversed(tables):
            db.execute(table.delete())
        for table in tables:
            if rows[table.name]:
                db.execute(table.insert(), rows[table.name])


def _seed(server: ApiServer) -> None:
    """A finished run and a suite, so that the list operations lead somewhere."""
    target = "http://127.0.0.1:9/"
    spec = TestSpec.model_validate(
        {"id": "home", "name": "Home", "url": target, "steps": [{"action": "goto", "url": "/"}]}
    )
    options = RunOptions(types=("functional",), limits=Limits(max_pages=5))
    with session_scope(get_engine(server.settings.database_url), write=True) as session:
        for status in (RunStatus.PASSED, RunStatus.FAILED):
            run = create_run(session, target, options).id
            save_cases(session, run, [spec])
            finish_run(session, run, status, datetime.now(UTC))
        create_suite(session, "Smoke", target, [spec], "user:admin@example.com")


def _state_machine(
    server: ApiServer, headers: dict[str, str], answers: list[tuple[str, int]]
) -> Any:
    seeded = _snapshot(server)
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], deterministic=True
    )
    base = schema.as_state_machine()

    class Workflow(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: schemathesis.Case) -> None:
            body = case.body
            execute = case.operation.path == "/api/v1/tests/execute"
            if execute and isinstance(body, dict) and body.get("url") is not None:
                body["url"] = REFUSED_TARGET

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            answers.append((case.operation.path, response.status_code))

        def teardown(self) -> None:
            super().teardown()
            _restore(server, seeded)

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    return Workflow


RUN = settings(
    max_examples=SCENARIOS,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("who", ["admin", None], ids=["admin", "anonymous"])
def test_call_sequences_keep_the_contract(server: ApiServer, who: str | None) -> None:
    headers = {"Authorization": f"Bearer {server.tokens[who]}"} if who else {}
    answers: list[tuple[str, int]] = []
    # When Schemathesis runs its sequences, each answer checked as it comes
    _state_machine(server, headers, answers).run(settings=RUN)
    # Then sequences did reach real resources (as admin) or were refused throughout (anonymous)
    assert len(answers) >= SCENARIOS * 2
    followed = {path for path, status in answers if "{" in path and status < 300}
    if who:
        assert len(followed) >= 3, sorted(set(answers))
    else:
        assert followed == set()
