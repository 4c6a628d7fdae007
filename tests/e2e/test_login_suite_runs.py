"""``matf run --login-suite``: a two-page sign-in passed by a spec's steps, on the command line.

Embedded mode, real Chromium, real SQLite, the credentials sealed under a real
key. The signed-in pages are tested; a suite that cannot sign in, or a file
that is not one, stops with one line and exit 2; the password is in nothing a
run leaves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from matf.secrets.keyring import parse_keyring
from matf.storage import models
from matf.storage.db import get_engine, session_scope
from tests.conftest import run_matf
from tests.e2e.test_cli import assert_one_line_error
from tests.secretscan import Scanner
from tests.secretstore import store
from tests.services import LoopbackHttpServer
from tests.signedin import KEY, report, sign_in_count
from tests.sso_site import CREDENTIALS, LOGIN_STEPS, PASSWORD, SsoSiteHandler

SMALL = ["--types", "functional", "--max-pages", "2", "--max-interactions", "0"]


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with LoopbackHttpServer(SsoSiteHandler) as server:
        yield f"http://127.0.0.1:{server.port}"


def _suite(folder: Path, site: str, steps: list[dict[str, object]]) -> Path:
    spec = {"id": "sign-in", "name": "Sign in", "url": f"{site}/sso/login", "steps": steps}
    path = folder / "login.json"
    path.write_text(json.dumps({"version": 1, "tests": [spec]}), encoding="utf-8")
    return path


def _secret(folder: Path, site: str, credentials: dict[str, str]) -> None:
    store(
        get_engine(f"sqlite:///{folder / 'matf.db'}"),
        parse_keyring(KEY),
        site,
        "login",
        credentials,
    )


def _runs(folder: Path) -> int:
    if not (folder / "matf.db").exists():
        return 0
    with session_scope(get_engine(f"sqlite:///{folder / 'matf.db'}")) as session:
        return len(list(session.scalars(select(models.Run))))


def test_a_login_suite_signs_in_over_two_pages_and_the_signed_in_pages_are_tested(
    site: str, tmp_path: Path
) -> None:
    # Given the credentials and a login suite for the two-page sign-in
    _secret(tmp_path, site, CREDENTIALS)
    _suite(tmp_path, site, LOGIN_STEPS)
    # When a run of the account page signs in with it
    run = run_matf(
        ["run", f"{site}/sso/home", *SMALL, "--login-suite", "login.json", "--out", "out"],
        tmp_path,
        ENCRYPTION_KEY=KEY,
    )
    # Then it signed in once and tested the pages only a signed-in user reaches
    assert run.returncode == 0, run.stdout + run.stderr
    tests = report(tmp_path, "out")["tests"]
    tested = {t["url"].removeprefix(site) for t in tests}
    assert {"/sso/home", "/sso/orders"} <= tested, tested
    assert all(t["status"] == "passed" for t in tests)
    assert sign_in_count(tmp_path) == 1
    # And the password is nowhere the run left anything, nor on the terminal
    assert PASSWORD not in run.stdout + run.stderr
    hits = Scanner(PASSWORD).scan_tree(tmp_path)
    assert not hits, "\n".join(map(str, hits))


def test_a_login_suite_that_cannot_sign_in_stops_with_one_line_and_exit_2(
    site: str, tmp_path: Path
) -> None:
    _secret(tmp_path, site, {**CREDENTIALS, "password": "not-" + PASSWORD})
    _suite(tmp_path, site, LOGIN_STEPS)

    run = run_matf(
        ["run", f"{site}/sso/home", *SMALL, "--login-suite", "login.json", "--out", "out"],
        tmp_path,
        ENCRYPTION_KEY=KEY,
    )

    assert_one_line_error(run, "login step 6 (expect URL containing /sso/home)")
    assert PASSWORD not in run.stdout + run.stderr
    assert sign_in_count(tmp_path) == 0


@pytest.mark.parametrize(
    ("steps", "needle"),
    [
        ([{"action": "check_visual", "name": "x"}], "step 1 (check_visual) cannot sign in"),
        ([{"action": "goto"}], "steps.0.goto.url"),
    ],
    ids=["a-check", "no-url"],
)
def test_a_bad_login_suite_is_refused_in_one_line_before_anything_is_created(
    site: str, tmp_path: Path, steps: list[dict[str, object]], needle: str
) -> None:
    _suite(tmp_path, site, steps)

    run = run_matf(["run", f"{site}/", "--login-suite", "login.json"], tmp_path, ENCRYPTION_KEY=KEY)

    assert_one_line_error(run, "the login suite login.json", needle)
    assert _runs(tmp_path) == 0


def test_a_login_suite_and_a_sign_in_page_are_refused_together(site: str, tmp_path: Path) -> None:
    _suite(tmp_path, site, LOGIN_STEPS)

    run = run_matf(
        ["run", f"{site}/", "--login-suite", "login.json", "--login-url", f"{site}/sso/login"],
        tmp_path,
        ENCRYPTION_KEY=KEY,
    )

    assert_one_line_error(run, "--login-suite and --login-url cannot be used together")
    assert _runs(tmp_path) == 0
