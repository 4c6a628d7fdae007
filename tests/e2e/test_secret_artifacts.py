"""A secret's value never leaves the executor: not in a trace, a screenshot, a report,
an event, a log line or a database file, in any encoding.

One real ``matf run`` (embedded, real Chromium, retries, traces, screenshots,
video where this host can record it, visual captures) of a suite that fills
secrets in every kind of step that takes a value (fill, a password fill,
select, an API request's headers and body, a GET form's query) against a site
that reflects what it is sent. Every test fails, so every kind of failure
evidence is kept. Then everything the run left is unpacked and scanned.

A marker value, not a secret, goes through the same steps: it IS found in the
traces, reports (report.pdf's text too), events and database (the scan is not
vacuous), and its field is not masked in screenshots.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from matf.browser.visual import MASK_COLOR
from tests.conftest import MATF, run_matf, subprocess_env
from tests.echo_site import BOXES, EchoSite, digest
from tests.secretscan import Hit, Scanner


def _value(kind: str, ascii_only: bool = False) -> str:
    """Distinctive, and with characters every encoding changes (space, +, &, /, =, é)."""
    tail = f"+x/y={secrets.token_hex(4)}" if ascii_only else f" a+b&c/d=é{secrets.token_hex(4)}"
    return f"zq{kind}-{secrets.token_hex(10)}{tail}"


TOKEN, PW, PLAN, QUERY = _value("TK"), _value("PW"), _value("PL"), _value("QY")
API_TOKEN, API_PW = _value("AT", ascii_only=True), _value("AP")
SECRETS = {"token": TOKEN, "pw": PW, "plan": PLAN, "query": QUERY, "api-token": API_TOKEN}
SECRETS["api-pw"] = API_PW
MARKER = _value("MK")  # not a secret: written in the suite itself

SECRET_CASES = ("mirror", "post", "query", "api-plain", "api-b64")
WITHHELD = "trace not recorded: this test fills secrets"


def _label(name: str) -> dict[str, str]:
    return {"label": name}


def _fills(token: str, pw: str | None = "{{secret:form.pw}}") -> list[dict[str, object]]:
    steps: list[dict[str, object]] = [
        {"action": "goto", "url": "/form" if pw is not None else "/form2"},
        {"action": "fill", "target": _label("Token"), "value": token},
    ]
    if pw is not None:
        steps += [
            {"action": "fill", "target": _label("Password"), "value": pw},
            {"action": "select", "target": _label("Plan"), "value": "{{secret:form.plan}}"},
        ]
    return [*steps, {"action": "fill", "target": _label("Note"), "value": MARKER}]


def _api(url: str, password: str, **checks: object) -> dict[str, object]:
    return {
        "action": "api_request",
        "method": "POST",
        "url": url,
        "headers": {"Authorization": "Bearer {{secret:api.token}}"},
        "body": {"user": "alice", "password": password},
        **checks,
    }


B64_NOT_INTEGERS = {"type": "object", "properties": {"b64": {"type": "integer"}}}
B64_NOT_INTEGERS["properties"] |= {"b64_1": {"type": "integer"}, "b64_2": {"type": "integer"}}


def _suite(url: str) -> dict[str, object]:
    send = {"action": "submit", "target": {"role": "button", "name": "Send"}}
    got = [
        {"action": "expect_text", "target": {"css": f"#got-{name}"}, "text": digest(value)}
        for name, value in (("token", TOKEN), ("pw", PW), ("plan", PLAN))
    ]
    cases = {
        "mirror": [
            *_fills("{{secret:form.token}}"),
            {"action": "check_visual", "name": "form", "full_page": False},
            {"action": "expect_text", "target": {"css": "#mirror"}, "text": "nothing like it"},
        ],
        "post": [
            *_fills("{{secret:form.token}}"),
            send,
            *got,
            {"action": "expect_title", "title": "Never this title"},
        ],
        "query": [
            {"action": "goto", "url": "/search"},
            {"action": "fill", "target": _label("Query"), "value": "{{secret:query}}"},
            {"action": "submit", "target": {"role": "button", "name": "Search"}},
            {"action": "expect_url", "url": "/elsewhere", "contains": True},
        ],
        "api-plain": [
            _api(
                "/api/login",
                "{{secret:api.password}}",
                expect_json=[
                    {"pointer": "/password", "equals": digest(API_PW)},
                    {"pointer": "/auth", "equals": digest(f"Bearer {API_TOKEN}")},
                ],
            ),
            _api("/api/echo", "{{secret:api.password}}"),  # answers 400 with what it got
        ],
        "api-b64": [
            _api(
                "/api/echo",
                "{{secret:api.password}}",
                expect_status=400,
                json_schema=B64_NOT_INTEGERS,
            )
        ],
        "marker": [
            *_fills(MARKER, pw=None),
            send,
            {"action": "expect_text", "target": {"css": "#got-token"}, "text": digest(MARKER)},
            {
                **_api("/api/echo", MARKER, expect_status=400, json_schema=B64_NOT_INTEGERS),
                "headers": {},
            },
        ],
    }
    tests = [
        {"id": case, "name": f"Secrets: {case}", "url": f"{url}/form", "steps": steps}
        for case, steps in cases.items()
    ]
    tests[-1]["name"] = f"Not a secret: {MARKER}"  # events show test names
    return {"version": 1, "tests": tests}


def _set_secret(folder: Path, key: str, origin: str, name: str, value: object) -> None:
    """``matf secrets set``, the value on stdin, as a person would."""
    as_json = not isinstance(value, str)
    proc = subprocess.run(
        [*MATF, "secrets", "set", origin, name, *(["--json"] if as_json else [])],
        cwd=folder,
        env=subprocess_env(folder, ENCRYPTION_KEY=key),
        input=(json.dumps(value) if as_json else str(value)) + "\n",
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _events(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT * FROM events").fetchall()
    assert rows, "the run recorded no events"
    return "\n".join("\t".join(str(column) for column in row) for row in rows)


def _magenta(image: Image.Image, box: str) -> bool:
    x, y, width, height = BOXES[box]
    pixel = image.convert("RGB").getpixel((x + width // 2, y + height // 2))
    return bool(pixel == tuple(int(MASK_COLOR[i : i + 2], 16) for i in (1, 3, 5)))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The suite run once: (its folder, everything ``matf run`` printed)."""
    folder = tmp_path_factory.mktemp("secret-run")
    key = "k1:" + __import__("base64").b64encode(secrets.token_bytes(32)).decode()
    with EchoSite(PLAN) as site:
        _set_secret(folder, key, site.url, "form", {"token": TOKEN, "pw": PW, "plan": PLAN})
        _set_secret(folder, key, site.url, "query", QUERY)
        _set_secret(folder, key, site.url, "api", {"token": API_TOKEN, "password": API_PW})
        (folder / "suite.json").write_text(json.dumps(_suite(site.url)))
        proc = run_matf(
            ["run", f"{site.url}/form", "--suite", "suite.json", "--out", "out", "--video"],
            folder,
            ENCRYPTION_KEY=key,
            TEST_RETRIES="1",
            LOG_LEVEL="DEBUG",
        )
    assert (folder / "out" / "report.json").is_file(), proc.stdout + proc.stderr
    assert (folder / "out" / "report.pdf").is_file(), proc.stdout + proc.stderr
    return folder, proc.stdout + proc.stderr


def _tests(folder: Path) -> dict[str, dict[str, object]]:
    report = json.loads((folder / "out" / "report.json").read_text())
    return {t["case_id"]: t for t in report["tests"]}


def test_the_secret_values_reach_the_site_and_every_test_fails_as_written(
    finished_run: tuple[Path, str],
) -> None:
    tests = _tests(finished_run[0])

    assert {case: t["status"] for case, t in tests.items()} == dict.fromkeys(
        (*SECRET_CASES, "marker"), "failed"
    )
    assert all(t["attempts"] == 2 for t in tests.values())  # retried: the retry is traced
    # The site received the real values: the steps checking their digests passed.
    post = [s["status"] for s in tests["post"]["steps"]]
    assert post[-4:] == ["passed", "passed", "passed", "failed"]
    assert [s["status"] for s in tests["api-plain"]["steps"]] == ["passed", "failed"]


def test_tests_that_fill_secrets_are_not_traced_and_the_report_says_why(
    finished_run: tuple[Path, str],
) -> None:
    folder = finished_run[0]
    tests = _tests(folder)

    for case in SECRET_CASES:
        artifacts = tests[case]["artifacts"]
        assert isinstance(artifacts, dict)
        assert artifacts["trace"] is None and artifacts["video"] is None, case
        assert WITHHELD in str(artifacts.get("withheld")), case
    marker = tests["marker"]["artifacts"]
    assert isinstance(marker, dict) and marker["trace"] and not marker.get("withheld")
    assert WITHHELD in (folder / "out" / "report.html").read_text()
    assert WITHHELD in (folder / "out" / "junit.xml").read_text()
    assert not list((folder / "storage" / "artifacts").rglob("mirror-*.zip"))


def test_screenshots_mask_the_filled_fields_and_the_page_echoing_them(
    finished_run: tuple[Path, str],
) -> None:
    folder = finished_run[0]
    mirror = _tests(folder)["mirror"]
    artifacts, visual = mirror["artifacts"], mirror["visual"]
    assert isinstance(artifacts, dict) and isinstance(visual, list)
    shots = {
        "failure": folder / "out" / str(artifacts["screenshot"]),
        "visual": folder / "out" / str(visual[0]["actual"]),
    }

    for kind, path in shots.items():
        with Image.open(path) as image:
            masked = {box: _magenta(image, box) for box in BOXES}
        assert masked == {
            "token": True, "pw": True, "plan": True, "mirror": True, "note": False,
        }, kind  # fmt: skip


def _everything(folder: Path, printed: str, scanner: Scanner) -> list[Hit]:
    hits = scanner.scan_tree(folder)
    hits += scanner.scan_text(printed, "matf run's output")
    hits += scanner.scan_text(_events(folder / "matf.db"), "events table")
    return hits


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_artifact_report_event_log_or_database_holds_a_secret(
    finished_run: tuple[Path, str], name: str
) -> None:
    folder, printed = finished_run
    assert (folder / "matf.log").stat().st_size > 0  # the run's log is there to scan

    hits = _everything(folder, printed, Scanner(SECRETS[name]))

    assert [str(hit) for hit in hits] == []


def test_the_scan_finds_a_value_that_is_not_a_secret(finished_run: tuple[Path, str]) -> None:
    # The marker goes through the same steps: fills, a form post, an API body
    # reflected in base64. Every place the scan reads shows it.
    folder, printed = finished_run
    hits = _everything(folder, printed, Scanner(MARKER))
    where = {(hit.where.split("!")[0], hit.form) for hit in hits}
    files = {place for place, _ in where}

    trace = "out/artifacts/marker-chromium-2.zip"
    assert {(trace, "plain"), (trace, "quote_plus")} <= where  # the fill, the form's post
    assert {"out/report.json", "out/report.html", "out/junit.xml", "matf.db"} <= files
    # report.pdf is read as a reader sees it: its text, not only its bytes
    assert ("out/report.pdf!text", "plain") in {(hit.where, hit.form) for hit in hits}
    assert ("out/report.json", "base64") in where  # the schema errors quote the reflection
    assert {"events table", "matf.log", "matf run's output"} <= files  # celery logs results
