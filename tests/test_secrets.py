"""Target-site credentials: sealed (AES-256-GCM), bound to their target, rotatable, never shown."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import logging
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from matf.cli import cli, main
from matf.commands.secrets import secrets
from matf.errors import ConfigError, UsageError
from matf.secrets.keyring import Keyring, generate_key, parse_keyring
from matf.secrets.production import check_production
from matf.secrets.store import (
    SecretValue,
    delete_secret,
    get_secret,
    list_secrets,
    normalize_origin,
    put_secret,
    rotate,
)
from matf.storage.db import get_engine, session_scope
from matf.storage.models import TargetSecret
from tests.conftest import make_settings

ORIGIN = "https://shop.example.com"
PASSWORD = "hunter2-correct-horse"
CREDENTIALS = {"username": "alice@example.com", "password": PASSWORD}
GOOD_JWT = "q0bJ8gZ3xv6mFv2Yp1rN4tW7uE9sK5hL3dC8aB2zX0="


def _engine(tmp_path: Path) -> Engine:
    return get_engine(f"sqlite:///{tmp_path / 'matf.db'}")


def _material(entry: str) -> str:
    """The base64 part of a ``kid:key`` entry."""
    return entry.partition(":")[2]


@pytest.fixture
def old_entry() -> str:
    return generate_key("old")


@pytest.fixture
def new_entry() -> str:
    return generate_key("new")


@pytest.fixture
def keyring(old_entry: str) -> Keyring:
    return parse_keyring(old_entry)


def _put(engine: Engine, keyring: Keyring, origin: str, name: str, value: object) -> None:
    with session_scope(engine, write=True) as session:
        put_secret(session, keyring, origin, name, value)  # type: ignore[arg-type]


def _get(engine: Engine, keyring: Keyring, origin: str = ORIGIN, name: str = "login") -> object:
    with session_scope(engine) as session:
        secret = get_secret(session, keyring, origin, name)
    return None if secret is None else secret.reveal()


# --- sealing -----------------------------------------------------------------------------


def test_string_and_object_values_round_trip(tmp_path: Path, keyring: Keyring) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", CREDENTIALS)
    _put(engine, keyring, ORIGIN, "api-token", "tok_123")

    assert _get(engine, keyring) == CREDENTIALS
    assert _get(engine, keyring, name="api-token") == "tok_123"
    assert _get(engine, keyring, name="missing") is None


def test_setting_a_secret_again_replaces_it_and_keeps_its_creation_time(
    tmp_path: Path, keyring: Keyring
) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", "first")
    _put(engine, keyring, ORIGIN, "login", "second")

    assert _get(engine, keyring) == "second"
    with session_scope(engine) as session:
        [info] = list_secrets(session)
    assert info.updated_at >= info.created_at


def test_nothing_readable_reaches_the_database_file(tmp_path: Path, keyring: Keyring) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", CREDENTIALS)
    _put(engine, keyring, ORIGIN, "other", CREDENTIALS)

    with session_scope(engine) as session:
        rows = session.scalars(select(TargetSecret)).all()
    for row in rows:
        assert PASSWORD.encode() not in row.ciphertext
        assert b"alice" not in row.ciphertext
        assert len(row.nonce) == 12
        assert row.key_id == "old"
    # Same value, fresh nonce: equal passwords do not look equal at rest.
    assert rows[0].nonce != rows[1].nonce
    assert rows[0].ciphertext != rows[1].ciphertext
    on_disk = b"".join(path.read_bytes() for path in tmp_path.glob("matf.db*") if path.is_file())
    assert PASSWORD.encode() not in on_disk


def test_secret_value_hides_itself_from_repr_str_logs_and_pickle(
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = SecretValue(CREDENTIALS)

    with caplog.at_level(logging.INFO):
        logging.getLogger("matf.test").info("credentials %s %r %s", value, value, [value])

    assert repr(value) == str(value) == f"{value}" == "SecretValue(***)"
    assert PASSWORD not in caplog.text
    assert "SecretValue(***)" in caplog.text
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(value)
    assert value.reveal() == CREDENTIALS


def _tamper(engine: Engine, **changes: object) -> None:
    with session_scope(engine, write=True) as session:
        row = session.scalars(select(TargetSecret)).one()
        for attr, change in changes.items():
            current = getattr(row, attr)
            setattr(row, attr, change(current) if callable(change) else change)


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize(
    ("changes", "looked_up_as"),
    [
        ({"ciphertext": _flip_last_byte}, (ORIGIN, "login")),
        ({"nonce": _flip_last_byte}, (ORIGIN, "login")),
        ({"origin": "https://evil.example.net"}, ("https://evil.example.net", "login")),
        ({"name": "admin"}, (ORIGIN, "admin")),
    ],
    ids=["ciphertext", "nonce", "moved-to-another-origin", "renamed"],
)
def test_an_altered_or_moved_row_fails_to_decrypt_with_a_clear_error(
    tmp_path: Path,
    keyring: Keyring,
    changes: dict[str, object],
    looked_up_as: tuple[str, str],
) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", CREDENTIALS)
    _tamper(engine, **changes)

    with pytest.raises(ConfigError) as info:
        _get(engine, keyring, *looked_up_as)

    message = str(info.value)
    assert "cannot decrypt" in message
    assert "'old'" in message
    assert looked_up_as[1] in message
    assert PASSWORD not in message


def test_a_key_with_the_right_id_but_wrong_bytes_is_refused(
    tmp_path: Path, keyring: Keyring
) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", "pw")
    impostor = parse_keyring("old:" + _material(generate_key()))

    with pytest.raises(ConfigError, match="cannot decrypt secret 'login'"):
        _get(engine, impostor)


# --- rotation ----------------------------------------------------------------------------


def test_rotation_moves_every_secret_to_the_new_key_so_the_old_one_can_go(
    tmp_path: Path, old_entry: str, new_entry: str
) -> None:
    engine = _engine(tmp_path)
    old_only = parse_keyring(old_entry)
    for name in ("login", "admin", "token"):
        _put(engine, old_only, ORIGIN, name, f"value-of-{name}")
    _put(engine, old_only, "http://127.0.0.1:8080", "login", CREDENTIALS)

    # Given the new key first and the old one still present, old rows still read.
    both = parse_keyring(f"{new_entry},{old_entry}")
    assert both.current.key_id == "new"
    assert _get(engine, both, name="admin") == "value-of-admin"
    _put(engine, both, ORIGIN, "fresh", "sealed-under-new")

    with session_scope(engine, write=True) as session:
        moved = rotate(session, both)
    with session_scope(engine, write=True) as session:
        again = rotate(session, both)

    assert (moved, again) == (4, 0)
    new_only = parse_keyring(new_entry)
    with session_scope(engine) as session:
        assert {info.key_id for info in list_secrets(session)} == {"new"}
    for name in ("login", "admin", "token"):
        assert _get(engine, new_only, name=name) == f"value-of-{name}"
    assert _get(engine, new_only, name="fresh") == "sealed-under-new"
    assert _get(engine, new_only, "http://127.0.0.1:8080") == CREDENTIALS


def test_a_key_id_missing_from_the_keyring_is_named(
    tmp_path: Path, keyring: Keyring, new_entry: str
) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", "pw")

    with pytest.raises(ConfigError) as info:
        _get(engine, parse_keyring(new_entry))

    assert "key id 'old'" in str(info.value)
    assert "ENCRYPTION_KEY" in str(info.value)


def test_rotation_is_all_or_nothing(tmp_path: Path, old_entry: str, new_entry: str) -> None:
    engine = _engine(tmp_path)
    lost = parse_keyring(generate_key("lost"))
    _put(engine, parse_keyring(old_entry), ORIGIN, "a-readable", "pw")
    _put(engine, lost, ORIGIN, "b-unreadable", "pw")

    with (
        pytest.raises(ConfigError, match="key id 'lost'"),
        session_scope(engine, write=True) as session,
    ):
        rotate(session, parse_keyring(f"{new_entry},{old_entry}"))

    with session_scope(engine) as session:
        key_ids = [info.key_id for info in list_secrets(session)]
    assert key_ids == ["old", "lost"]


# --- ENCRYPTION_KEY ----------------------------------------------------------------------


def test_encryption_key_forms_that_parse() -> None:
    raw = bytes(range(32))
    standard = base64.b64encode(raw).decode()
    urlsafe_unpadded = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    bare = parse_keyring(standard)
    assert bare.current.key_id == hashlib.sha256(raw).hexdigest()[:8]
    assert bare.current.material == raw
    assert parse_keyring(urlsafe_unpadded).current.material == raw
    assert parse_keyring(raw.hex()).current.material == raw  # openssl rand -hex 32
    ring = parse_keyring(f" k2 : {urlsafe_unpadded} , k1:{standard},")
    assert ring.key_ids == ("k2", "k1")
    assert ring.current.key_id == "k2"
    assert standard not in repr(ring)


def test_generated_keys_are_ready_to_use_and_distinct() -> None:
    first, second = generate_key(), generate_key()
    ring = parse_keyring(first)

    assert first != second
    assert first.partition(":")[0] == ring.current.key_id
    assert ring.current.key_id == hashlib.sha256(ring.current.material).hexdigest()[:8]
    assert generate_key("2025-q1").startswith("2025-q1:")
    with pytest.raises(UsageError):
        generate_key("no spaces allowed")


SHORT = base64.b64encode(b"s3cr3t-material-sixteen"[:16]).decode()
GOOD = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("", "not set"),
        ("   ", "not set"),
        (",", "no key"),
        ("k1:" + SHORT, "16 bytes"),
        (SHORT, "entry 1"),
        ("k1:" + GOOD + ",k2:!!" + GOOD[2:], "entry 2 (key id 'k2') is not base64"),
        ("bad id:" + GOOD, "bad key id"),
        (f"k1:{GOOD},k1:{GOOD}", "same key id"),
        ("your_32_character_encryption_key", "bytes"),
    ],
)
def test_bad_encryption_keys_fail_in_one_line_without_echoing_the_key(
    value: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_keyring(value)

    message = str(info.value)
    assert "ENCRYPTION_KEY" in message
    assert needle in message
    assert "\n" not in message
    for material in (SHORT, GOOD, GOOD[2:], "your_32_character"):
        assert material not in message


# --- listing, deleting, origins ----------------------------------------------------------


def test_listing_shows_metadata_and_never_the_value(tmp_path: Path, keyring: Keyring) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", CREDENTIALS)
    _put(engine, keyring, "http://localhost:3000", "login", PASSWORD)

    with session_scope(engine) as session:
        everything = list_secrets(session)
        one_origin = list_secrets(session, "https://SHOP.example.com/some/page")

    assert [(info.origin, info.name) for info in everything] == [
        ("http://localhost:3000", "login"),
        (ORIGIN, "login"),
    ]
    assert [info.origin for info in one_origin] == [ORIGIN]
    for info in everything:
        fields = dataclasses.asdict(info)
        assert set(fields) == {"origin", "name", "key_id", "created_at", "updated_at"}
        assert PASSWORD not in repr(fields)


def test_deleting_forgets_the_secret(tmp_path: Path, keyring: Keyring) -> None:
    engine = _engine(tmp_path)
    _put(engine, keyring, ORIGIN, "login", "pw")

    with session_scope(engine, write=True) as session:
        first = delete_secret(session, ORIGIN, "login")
    with session_scope(engine, write=True) as session:
        second = delete_secret(session, ORIGIN, "login")

    assert (first, second) == (True, False)
    assert _get(engine, keyring) is None


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Shop.Example.com:443/login?next=/", "https://shop.example.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_origins_are_normalised_so_agents_find_what_users_stored(url: str, origin: str) -> None:
    assert normalize_origin(url) == origin


@pytest.mark.parametrize(
    "url", ["shop.example.com", "ftp://example.com", "http://", "http://h:99999"]
)
def test_bad_origins_are_refused(url: str) -> None:
    with pytest.raises(UsageError):
        normalize_origin(url)


# --- production start-up checks ----------------------------------------------------------


@pytest.mark.parametrize(
    ("jwt_secret", "encryption_key", "variable", "needle"),
    [
        (None, "GENERATED", "JWT_SECRET", "not set"),
        ("your_jwt_secret_key", "GENERATED", "JWT_SECRET", "placeholder"),
        ("change-me", "GENERATED", "JWT_SECRET", "placeholder"),
        ("your-secret-key", "GENERATED", "JWT_SECRET", "placeholder"),
        ("tooShort-but-random-ish-9f", "GENERATED", "JWT_SECRET", "too short"),
        (GOOD_JWT, None, "ENCRYPTION_KEY", "not set"),
        (GOOD_JWT, "your_32_character_encryption_key", "ENCRYPTION_KEY", "placeholder"),
        (GOOD_JWT, "changeme", "ENCRYPTION_KEY", "placeholder"),
        (GOOD_JWT, "k1:" + SHORT, "ENCRYPTION_KEY", "16 bytes"),
        (GOOD_JWT, "0" * 64, "ENCRYPTION_KEY", "not random"),
    ],
)
def test_production_refuses_missing_weak_or_placeholder_secrets(
    tmp_path: Path,
    jwt_secret: str | None,
    encryption_key: str | None,
    variable: str,
    needle: str,
) -> None:
    key = generate_key() if encryption_key == "GENERATED" else encryption_key
    settings = make_settings(
        tmp_path, matf_env="production", jwt_secret=jwt_secret, encryption_key=key
    )

    with pytest.raises(ConfigError) as info:
        check_production(settings)

    message = str(info.value)
    assert variable in message.split(":")[0]
    assert needle in message
    for secret in (jwt_secret, encryption_key):
        if secret and secret != "GENERATED":
            assert secret not in message


def test_production_starts_with_strong_secrets_and_other_envs_are_not_checked(
    tmp_path: Path,
) -> None:
    strong = make_settings(
        tmp_path, matf_env="production", jwt_secret=GOOD_JWT, encryption_key=generate_key()
    )
    weak_dev = make_settings(tmp_path, matf_env="development", jwt_secret=None)

    check_production(strong)  # raises ConfigError if refused
    check_production(weak_dev)


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
    engine = _engine(tmp_path)

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
    assert _get(engine, parse_keyring(old_entry)) == CREDENTIALS
    assert _get(engine, parse_keyring(old_entry), name="token") == "tok en"

    rotating = {**cli_env, "ENCRYPTION_KEY": f"{new_entry},{old_entry}"}
    rotate_code, rotate_out = _invoke(monkeypatch, tmp_path, rotating, ["rotate"])
    assert rotate_code == 0
    assert "re-encrypted 2 secrets under key id new" in rotate_out
    assert _get(engine, parse_keyring(new_entry), name="token") == "tok en"

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
    """Run ``matf secrets ...`` through ``matf.cli.main``, the real error boundary."""
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
    with session_scope(_engine(tmp_path)) as session:
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
    _put(engine, parse_keyring(old_entry), healthy_demo, "news", value)
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
