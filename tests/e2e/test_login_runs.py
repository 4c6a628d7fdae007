"""Runs signed in to the demo's account area, on the real command line (embedded mode).

The demo hides two seeded bugs behind its sign-in: a script error on the page
of order 1003, found only signed in, and an admin page a plain user can open,
found only by comparing two roles (``--as admin,user``). The sign-in is made
once and reused within ``SESSION_TIMEOUT``; its session cookie is found in no
file the runs leave, in any encoding.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from demo.server import DemoServer
from tests.conftest import run_matf
from tests.secretscan import Scanner
from tests.signedin import (
    KEY,
    SMALL,
    page_errors_on,
    report,
    session_cookie,
    set_demo_secrets,
    sign_in_count,
    signed_in_events,
)

CARRIER = "reading 'carrier'"  # the seeded script error of order 1003


def test_the_bug_behind_the_sign_in_is_found_signed_in_and_the_sign_in_is_reused(
    demo: str, tmp_path: Path
) -> None:
    set_demo_secrets(tmp_path, demo)
    account = f"{demo}/account/"
    # Without --login the run sees the sign-in form where the account area is
    anonymous = run_matf(["run", account, *SMALL, "--out", "anon"], tmp_path, ENCRYPTION_KEY=KEY)
    assert anonymous.returncode in (0, 1), anonymous.stderr
    assert not any(CARRIER in e for e in page_errors_on(report(tmp_path, "anon"), "/1003"))
    assert sign_in_count(tmp_path) == 0

    # With --login it signs in once and finds the script error of order 1003
    signed = run_matf(
        ["run", account, *SMALL, "--login", "--out", "signed"], tmp_path, ENCRYPTION_KEY=KEY
    )
    assert signed.returncode == 1, signed.stderr
    found = report(tmp_path, "signed")
    assert any(CARRIER in e for e in page_errors_on(found, "/account/orders/1003"))
    behind = [t for t in found["tests"] if "/account/" in t["url"]]
    assert behind and all(t["status"] in ("passed", "failed") for t in behind)
    assert sign_in_count(tmp_path) == 1
    cookie = session_cookie(tmp_path, demo)

    # A second run within SESSION_TIMEOUT signs in zero times; one after it, once
    one_page = ["run", f"{demo}/account/orders", "--types", "functional", "--max-pages", "1"]
    again = run_matf([*one_page, "--login", "--out", "again"], tmp_path, ENCRYPTION_KEY=KEY)
    assert again.returncode in (0, 1), again.stderr
    assert sign_in_count(tmp_path) == 1
    assert [e["reused"] for e in signed_in_events(tmp_path)] == [False, True]
    time.sleep(1.2)
    later = run_matf(
        [*one_page, "--login", "--out", "later"], tmp_path, ENCRYPTION_KEY=KEY, SESSION_TIMEOUT="1s"
    )
    assert later.returncode in (0, 1), later.stderr
    assert sign_in_count(tmp_path) == 2
    assert [e["reused"] for e in signed_in_events(tmp_path)] == [False, True, False]

    # The first session's cookie is nowhere in what the runs left: reports, artifacts
    # (traces of the failed tests' retries included), logs, events, the database
    hits = Scanner(cookie).scan_tree(tmp_path)
    assert not hits, "\n".join(map(str, hits))


def test_a_wrong_password_stops_the_run_with_one_line_and_exit_2(demo: str, tmp_path: Path) -> None:
    wrong = '{"username": "user", "password": "not-the-password"}'
    done = run_matf(
        ["secrets", "set", demo, "login", "--json"], tmp_path, stdin=wrong, ENCRYPTION_KEY=KEY
    )
    assert done.returncode == 0, done.stderr
    run = run_matf(
        ["run", f"{demo}/account/", *SMALL, "--login", "--out", "out"],
        tmp_path,
        ENCRYPTION_KEY=KEY,
    )
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert "the site refused the credentials at" in line and "Wrong username or password" in line
    assert "not-the-password" not in run.stderr + run.stdout


def test_two_roles_compared_find_the_admin_page_a_user_can_open(demo: str, tmp_path: Path) -> None:
    set_demo_secrets(tmp_path, demo)
    run = run_matf(
        ["run", f"{demo}/account/", *SMALL, "--as", "admin,user", "--out", "roles"],
        tmp_path,
        ENCRYPTION_KEY=KEY,
    )
    assert run.returncode == 1, run.stderr
    data = report(tmp_path, "roles")
    [denied] = [t for t in data["tests"] if t["category"] == "access"]
    assert denied["name"] == "user is denied /admin/ (only admin's pages link to it)"
    assert denied["status"] == "failed" and "answered HTTP 200" in denied["error"]
    access = data["run"]["exploration"]["access"]
    assert access["roles"] == ["admin", "user", "anonymous"]
    [finding] = access["findings"]
    assert finding["role"] == "user" and finding["url"].endswith("/admin/")
    admin_page = next(p for p in access["pages"] if p["url"].endswith("/admin/"))
    assert admin_page["seen"]["anonymous"]["status"] == 302
    # each role's own tests ran signed in as it: both saw the order page's script error
    by_role = {t["case_id"].rsplit("-as-", 1)[-1] for t in data["tests"] if "/1003" in t["url"]}
    assert by_role == {"admin", "user"}
    html = (tmp_path / "roles" / "report.html").read_text(encoding="utf-8")
    assert 'id="access-heading"' in html and "200, not linked" in html


def test_with_the_healthy_demo_the_user_is_denied_the_admin_page(tmp_path: Path) -> None:
    with DemoServer(bugs=False) as server:
        set_demo_secrets(tmp_path, server.url)
        run = run_matf(
            ["run", f"{server.url}/account/", *SMALL, "--as", "admin,user", "--out", "ok"],
            tmp_path,
            ENCRYPTION_KEY=KEY,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    data = report(tmp_path, "ok")
    [denied] = [t for t in data["tests"] if t["category"] == "access"]
    assert denied["status"] == "passed"
    assert data["run"]["exploration"]["access"]["findings"] == []


def test_a_saved_suite_written_signed_in_signs_in_by_itself_or_stops_without_credentials(
    demo: str, tmp_path: Path
) -> None:
    suite = {
        "version": 1,
        "tests": [
            {
                "id": "order-1003",
                "name": "Order 1003 loads cleanly",
                "url": f"{demo}/account/orders/1003",
                "signed_in": True,
                "steps": [
                    {"action": "goto", "url": "/account/orders/1003"},
                    {
                        "action": "expect_visible",
                        "target": {"role": "heading", "name": "Order 1003"},
                    },
                    {"action": "expect_no_page_errors"},
                ],
            }
        ],
    }
    (tmp_path / "suite.json").write_text(json.dumps(suite), encoding="utf-8")
    args = ["run", demo, "--suite", "suite.json"]
    # Without the credentials it stops before any test, naming the secret to set
    bare = run_matf([*args, "--out", "bare"], tmp_path, ENCRYPTION_KEY=KEY)
    assert bare.returncode == 2
    [line] = bare.stderr.strip().splitlines()
    assert "no secret 'login' for" in line and "matf secrets set" in line
    # With them, it signs in though the run was not asked to, and meets the bug
    set_demo_secrets(tmp_path, demo)
    run = run_matf([*args, "--out", "out"], tmp_path, ENCRYPTION_KEY=KEY)
    assert run.returncode == 1, run.stdout + run.stderr
    [test] = report(tmp_path, "out")["tests"]
    assert test["status"] == "failed" and CARRIER in " ".join(test["page_errors"])
    assert sign_in_count(tmp_path) == 1
