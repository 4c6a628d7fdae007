"""Roles compared: the access matrix, its tests, its report section; signed-in specs as data."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from matf.agents.access import RoleView, access_matrix, access_specs, protected_pages
from matf.agents.explore import PageInfo, SiteMap
from matf.agents.reporter import build_document
from matf.agents.writer import write_checked
from matf.browser.steps import status_matches
from matf.options import RunOptions
from matf.pipeline.signedwrite import as_role
from matf.pipeline.signin import roles_needed
from matf.reports.html import write_html
from matf.secrets.keyring import generate_key, parse_keyring
from matf.secrets.sessions import store_state
from matf.spec import ExpectStatus, TestSpec
from matf.storage.db import get_engine, session_scope, sessions_for
from matf.storage.models import SessionState, utcnow
from matf.storage.retention import apply_retention
from matf.storage.runs import create_run, record_exploration
from tests.conftest import ROOT, make_settings

SITE = "http://shop.test"
HOSTILE = "<img src=x onerror=alert(1)>"


def _site(role_pages: dict[str, list[str]]) -> SiteMap:
    site = SiteMap(start=f"{SITE}/")
    for url, links in role_pages.items():
        site.pages.append(
            PageInfo(url=f"{SITE}{url}", status=200, links=[(f"{SITE}{h}", h) for h in links])
        )
    return site


ADMIN = _site(
    {
        "/": ["/account/"],
        "/account/": ["/account/orders", "/admin/"],
        "/account/orders": ["/account/"],
        "/admin/": ["/account/"],
    }
)
USER = _site({"/": ["/account/"], "/account/": ["/account/orders"], "/account/orders": []})
# What an anonymous visitor gets, redirects not followed: the public page, and the sign-in.
ANONYMOUS = {
    f"{SITE}/": 200,
    f"{SITE}/account/": 302,
    f"{SITE}/account/orders": 302,
    f"{SITE}/admin/": 302,
}


def _views() -> list[RoleView]:
    return [RoleView.of("admin", ADMIN), RoleView.of("user", USER)]


def test_a_protected_page_only_admins_link_to_is_a_finding_when_a_user_opens_it() -> None:
    views = _views()
    assert protected_pages(views, ANONYMOUS) == [
        f"{SITE}/account/",
        f"{SITE}/account/orders",
        f"{SITE}/admin/",
    ]
    opened = access_matrix(views, ANONYMOUS, {("user", f"{SITE}/admin/"): 200})
    assert opened.roles == ["admin", "user", "anonymous"]
    [finding] = opened.findings
    assert finding["role"] == "user" and finding["url"] == f"{SITE}/admin/"
    assert (
        "user can open http://shop.test/admin/ (HTTP 200), which only admin's"
        in (finding["message"])
    )
    admin_row = next(row for row in opened.pages if row["url"].endswith("/admin/"))
    assert admin_row["seen"] == {
        "admin": {"status": 200, "linked": True},
        "user": {"status": 200, "linked": False},
        "anonymous": {"status": 302, "linked": False},
    }
    denied = access_matrix(views, ANONYMOUS, {("user", f"{SITE}/admin/"): 403})
    assert denied.findings == []


def test_each_page_a_role_is_never_shown_gets_a_test_that_it_is_denied() -> None:
    [spec] = access_specs(_views(), ANONYMOUS)
    assert spec.signed_in and spec.role == "user" and spec.category == "access"
    assert spec.name == "user is denied /admin/ (only admin's pages link to it)"
    [step] = spec.steps
    assert isinstance(step, ExpectStatus)
    assert (step.url, step.status, step.follow_redirects) == (f"{SITE}/admin/", "denied", False)
    # a public page is nobody's finding, whoever links to it
    public = {**ANONYMOUS, f"{SITE}/admin/": 200}
    assert access_specs(_views(), public) == []
    # the saved form keeps what makes it an access test, and reads back the same
    assert TestSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("status", "denied"), [(200, False), (204, False), (302, True), (403, True), (404, True)]
)
def test_denied_is_a_redirect_or_a_client_error(status: int, denied: bool) -> None:
    assert status_matches(status, "denied") is denied
    assert status_matches(status, "2xx") is (not denied)


def test_signed_in_fields_are_left_out_of_a_spec_that_does_not_use_them() -> None:
    plain = TestSpec.model_validate(
        {"id": "p", "name": "p", "url": f"{SITE}/", "steps": [{"action": "goto", "url": "/"}]}
    )
    assert "signed_in" not in plain.model_dump(mode="json")
    assert "role" not in plain.model_dump(mode="json")
    admin = as_role(plain, "admin", several=True)
    assert (admin.id, admin.name, admin.signed_in, admin.role) == (
        "p-as-admin",
        "p (as admin)",
        True,
        "admin",
    )
    alone = as_role(plain, None, several=False)
    assert (alone.id, alone.signed_in, alone.role) == ("p", True, None)
    with pytest.raises(ValidationError, match="a role needs signed_in"):
        TestSpec.model_validate({**plain.model_dump(mode="json"), "role": "admin"})


def test_a_run_signs_in_as_asked_and_as_its_signed_in_tests_need() -> None:
    assert roles_needed(RunOptions()) == ()
    asked = RunOptions.model_validate({"login": {"enabled": True, "roles": ["admin", "user"]}})
    assert roles_needed(asked) == ("admin", "user")
    suite = [
        as_role(
            TestSpec.model_validate(
                {
                    "id": "a",
                    "name": "a",
                    "url": f"{SITE}/",
                    "steps": [{"action": "goto", "url": "/"}],
                }
            ),
            role,
            several=False,
        )
        for role in (None, "viewer")
    ]
    assert roles_needed(RunOptions(), suite) == (None, "viewer")
    with pytest.raises(ValidationError):
        RunOptions.model_validate({"login": {"enabled": True, "roles": ["Not A Role"]}})


def test_the_writer_never_fetches_a_sign_out_link() -> None:
    site = _site({"/account/": ["/account/orders", "/account/logout", "/account/sign-out"]})
    specs = write_checked(site, ["functional"]).specs
    fetched = {s.url for s in specs if s.category == "link"}
    assert fetched == {f"{SITE}/account/orders"}


def _document(tmp_path: Path, access: dict[str, Any]) -> dict[str, Any]:
    engine = get_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    with session_scope(engine, write=True) as session:
        run_id = create_run(session, f"{SITE}/", RunOptions()).id
        record_exploration(session, run_id, {"pages": 4, "access": access})
    with session_scope(engine) as session:
        return build_document(session, run_id).model_dump(mode="json")


def test_the_report_shows_what_each_role_saw_escaped_and_meets_its_schema(tmp_path: Path) -> None:
    matrix = access_matrix(_views(), ANONYMOUS, {("user", f"{SITE}/admin/"): 200}).as_json()
    matrix["pages"][0]["url"] = f"{SITE}/{HOSTILE}"
    data = _document(tmp_path, matrix)
    schema = json.loads((ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    html = write_html(data, tmp_path).read_text(encoding="utf-8")
    assert 'id="access-heading"' in html
    assert "<th>admin</th><th>user</th><th>anonymous</th>" in html
    assert '<td class="opened">200, not linked</td>' in html
    assert "which only admin&#39;s pages link to" in html
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_retention_drops_expired_sign_ins_and_keeps_live_ones(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = get_engine(settings.database_url)
    keyring = parse_keyring(generate_key("k1"))
    with session_scope(engine, write=True) as session:
        store_state(
            session, keyring, SITE, "old", {"cookies": []}, 60, utcnow() - timedelta(hours=2)
        )
        store_state(session, keyring, SITE, "live", {"cookies": []}, 3600)
    done = apply_retention(sessions_for(engine), Path(settings.storage_path), days=30)
    assert done.expired_sign_ins == 1
    with session_scope(engine) as session:
        assert [row.role for row in session.query(SessionState)] == ["live"]


def test_a_page_only_linked_from_an_admin_page_is_compared_though_nobody_read_it() -> None:
    # the page budget ran out before the admin read /admin/, but its pages link there
    admin = _site({"/": ["/account/"], "/account/": ["/account/orders", "/admin/"]})
    views = [RoleView.of("admin", admin), RoleView.of("user", USER)]
    assert f"{SITE}/admin/" in protected_pages(views, ANONYMOUS)
    [spec] = access_specs(views, ANONYMOUS)
    assert (spec.role, spec.url) == ("user", f"{SITE}/admin/")
    [finding] = access_matrix(views, ANONYMOUS, {("user", f"{SITE}/admin/"): 200}).findings
    assert finding["role"] == "user"
