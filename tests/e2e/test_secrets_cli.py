"""``matf secrets`` on the command line, and placeholders filled only when a step runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.commands.secrets import secrets
from cli.main import cli, main
from matf.secrets.keyring import parse_keyring
from matf.secrets.store import list_secrets
from matf.storage.db import get_engine, session_scope
from tests.secretstore import CREDENTIALS, ORIGIN, PASSWORD, SHORT, open_database, reveal, store

# --- command line ------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, old_entry: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'matf.db'}",
        "ENCRYPTION_KEY": old_entry,
        "MATF_ENV": "test",
    }


def _invoke(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    args: list[str],
    stdin: str | None = None,
) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)  # no developer .env
    result = CliRunner().invoke(secrets, args, input=stdin, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_cli_keygen_prints_a_usable_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    code, out = _invoke(monkeypatch, tmp_path, cli_env, ["keygen", "--id", "k2025"])

    assert code == 0
    ring = parse_keyring(out.strip())
    assert ring.key_ids == ("k2025",)


def test_cli_set_list_rotate_delete_against_a_real_database(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cli_env: dict[str, str],
    old_entry: str,
    new_entry: str,
) -> None:
    engine = open_database(tmp_path)

    set_code, set_out = _invoke(
        monkeypatch,
        tmp_path,
        cli_env,
        ["set", "https://Shop.example.com/login", "login", "--json"],
        stdin='{"username": "alice@example.com", "password": "' + PASSWORD + '"}\n',
    )
    token_code, _ = _invoke(
        monkeypatch, tmp_path, cli_env, ["set", ORIGIN, "token"], stdin="tok en\n"
    )
    list_code, list_out = _invoke(monkeypatch, tmp_path, cli_env, ["list", ORIGIN])

    assert (set_code, token_code, list_code) == (0, 0, 0)
    assert "stored secret 'login' for https://shop.example.com under key id old" in set_out
    assert PASSWORD not in set_out + list_out
    assert [line.split("\t")[:3] for line in list_out.splitlines()] == [
        [ORIGIN, "login", "old"],
        [ORIGIN, "token", "old"],
    ]
    assert reveal(engine, parse_keyring(old_entry)) == CREDENTIALS
    assert reveal(engine, parse_keyring(old_entry), name="token") == "tok en"

    rotating = {**cli_env, "ENCRYPTION_KEY": f"{new_entry},{old_entry}"}
    rotate_code, rotate_out = _invoke(monkeypatch, tmp_path, rotating, ["rotate"])
    assert rotate_code == 0
    assert "re-encrypted 2 secrets under key id new" in rotate_out
    assert reveal(engine, parse_keyring(new_entry), name="token") == "tok en"

    delete_code, delete_out = _invoke(monkeypatch, tmp_path, cli_env, ["delete", ORIGIN, "token"])
    _, empty_out = _invoke(monkeypatch, tmp_path, cli_env, ["list", "http://elsewhere.test"])
    assert delete_code == 0
    assert "deleted secret 'token'" in delete_out
    assert empty_out.strip() == "no secrets stored for http://elsewhere.test"
    with session_scope(engine) as session:
        assert [info.name for info in list_secrets(session)] == ["login"]


def _main(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: dict[str, str],
    args: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run ``matf secrets ...`` through ``cli.main.main``, the real error boundary."""
    monkeypatch.setitem(cli.commands, "secrets", secrets)
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as info:
        main(["secrets", *args])
    captured = capsys.readouterr()
    return int(info.value.code or 0), captured.out, captured.err


@pytest.mark.parametrize(
    "args",
    [
        ["set", ORIGIN, "login", PASSWORD],
        ["set", ORIGIN, "login", f"--value={PASSWORD}"],
        ["set", ORIGIN, "login", "--json", PASSWORD],
    ],
)
def test_cli_set_refuses_a_value_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    cli_env: dict[str, str],
    args: list[str],
) -> None:
    code, out, err = _main(monkeypatch, capsys, tmp_path, cli_env, args, stdin="from-stdin\n")

    assert code == 2
    assert err.count("\n") == 1
    assert "never taken from the command line" in err
    assert PASSWORD not in out + err
    with session_scope(open_database(tmp_path)) as session:
        assert list_secrets(session) == []


@pytest.mark.parametrize(
    ("env_change", "args", "stdin", "needle"),
    [
        ({"ENCRYPTION_KEY": ""}, ["set", ORIGIN, "login"], "pw\n", "ENCRYPTION_KEY is not set"),
        ({"ENCRYPTION_KEY": "k:" + SHORT}, ["rotate"], "", "invalid ENCRYPTION_KEY"),
        ({}, ["set", ORIGIN, "login"], "", "no secret value given"),
        ({}, ["set", ORIGIN, "login", "--json"], '["a"]\n', "JSON object"),
        ({}, ["set", "not-an-origin", "login"], "pw\n", "origin"),
        ({}, ["delete", ORIGIN, "login"], "", "no secret 'login' stored"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    cli_env: dict[str, str],
    env_change: dict[str, str],
    args: list[str],
    stdin: str,
    needle: str,
) -> None:
    env = {**cli_env, **env_change}
    code, _, err = _main(monkeypatch, capsys, tmp_path, env, args, stdin=stdin)

    assert code == 2
    assert err.startswith("matf: error: ")
    assert err.count("\n") == 1
    assert needle in err
    assert SHORT not in err


# --- placeholders ------------------------------------------------------------------------


def test_placeholders_are_filled_only_when_a_step_runs(
    healthy_demo: str, tmp_path: Path, old_entry: str
) -> None:
    # Given a target secret holding a person's name and email, and a suite that
    # refers to it only by placeholder, when the suite runs, then the form is
    # filled with the real values, and no report shows them.
    import json as _json

    from matf.secrets.keyring import parse_keyring
    from tests.conftest import run_matf

    engine = get_engine(f"sqlite:///{tmp_path / 'matf.db'}")
    value = {"name": "Annabel", "email": "annabel.private@example.com"}
    store(engine, parse_keyring(old_entry), healthy_demo, "news", value)
    journey = [
        {"action": "goto", "url": "/newsletter"},
        {"action": "fill", "target": {"label": "Name"}, "value": "{{secret:news.name}}"},
        {"action": "fill", "target": {"label": "Email address"}, "value": "{{secret:news.email}}"},
        {"action": "check", "target": {"label": "I agree to receive the Acme newsletter"}},
        {"action": "submit", "target": {"role": "button", "name": "Subscribe"}},
        {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks, Anna"},
    ]
    missing = [journey[0], {**journey[1], "value": "{{secret:nope}}"}]
    suite = {
        "tests": [
            {"id": "subscribe", "name": "Subscribe", "url": f"{healthy_demo}/", "steps": journey},
            {
                "id": "missing",
                "name": "Unknown secret",
                "url": f"{healthy_demo}/",
                "steps": missing,
            },
        ]
    }
    (tmp_path / "suite.json").write_text(_json.dumps(suite))
    proc = run_matf(
        ["run", healthy_demo, "--suite", "suite.json", "--out", "out"],
        tmp_path,
        ENCRYPTION_KEY=old_entry,
        TEST_RETRIES="0",
    )
    report = (tmp_path / "out" / "report.json").read_text()
    tests = {t["case_id"]: t for t in _json.loads(report)["tests"]}
    assert tests["subscribe"]["status"] == "passed", tests["subscribe"]["error"]
    assert tests["missing"]["status"] == "error"
    assert (
        "secret 'nope' is not available: set it with 'matf secrets set" in tests["missing"]["error"]
    )
    for text in (report, (tmp_path / "out" / "report.html").read_text(), proc.stdout, proc.stderr):
        assert "annabel.private@example.com" not in text and "Annabel" not in text
    assert "{{secret:news.email}}" in report  # the steps show the placeholder
