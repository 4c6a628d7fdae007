"""A login suite: spec steps that sign in where a form cannot be found and filled in one go.

Single sign-on and sign-ins over several pages (the username on one page, the
password on the next) are written as the steps of one spec (``matf run
--login-suite login.json``). The steps are data, as every spec's are, and
travel in the run's options (``LoginOptions.steps``), not as a path: the
context manager may sign in on another machine.

Inside the steps ``{{secret:login.username}}`` and ``{{secret:login.password}}``
stand for the credentials of the role signing in (the target secret ``login``,
or ``login.<role>``); no other secret may be named, and only the steps that
find, fill and read pages may be used, never a check or an API request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from matf import spec as s
from matf.errors import SpecError
from matf.placeholders import referenced_names

MAX_LOGIN_STEPS = 50
# What a login suite's placeholders name, and the credentials' field each stands for.
LOGIN_FIELDS = {"login.username": "username", "login.password": "password"}
LOGIN_ACTIONS = (
    "goto",
    "click",
    "fill",
    "select",
    "check",
    "press",
    "submit",
    "expect_visible",
    "expect_text",
    "expect_url",
    "expect_title",
    "wait_for",
)


def check_login_steps(steps: Sequence[s.Step]) -> tuple[s.Step, ...]:
    """``steps`` if a login suite may hold them; else a ``ValueError`` naming the first bad one."""
    if len(steps) > MAX_LOGIN_STEPS:
        raise ValueError(f"a login suite has at most {MAX_LOGIN_STEPS} steps, not {len(steps)}")
    for number, step in enumerate(steps, 1):
        if step.action not in LOGIN_ACTIONS:
            raise ValueError(
                f"step {number} ({step.action}) cannot sign in: a login suite's steps are "
                f"{', '.join(LOGIN_ACTIONS)}"
            )
        unknown = sorted(referenced_names(step.model_dump(mode="json")) - set(LOGIN_FIELDS))
        if unknown:
            raise ValueError(
                f"step {number} names the secret {unknown[0]!r}: a login suite's placeholders "
                "are {{secret:login.username}} and {{secret:login.password}}"
            )
    return tuple(steps)


def load_login_steps(path: Path) -> tuple[s.Step, ...]:
    """The steps of the login suite at ``path``: a suite of one test, or one spec.

    Raises a one-line ``SpecError`` naming the file and its first problem.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read the login suite {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"the login suite {path} is not JSON: {exc}") from exc
    try:
        if isinstance(data, dict) and "tests" in data:
            tests = s.Suite.model_validate(data).tests
            if len(tests) != 1:
                raise SpecError(
                    f"the login suite {path} holds {len(tests)} tests: it must hold one, "
                    "whose steps sign in"
                )
            spec = tests[0]
        else:
            spec = s.TestSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "document"
        raise SpecError(f"the login suite {path}: {where}: {err['msg']}") from exc
    try:
        return check_login_steps(spec.steps)
    except ValueError as exc:
        raise SpecError(f"the login suite {path}: {exc}") from exc
