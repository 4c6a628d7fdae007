"""Target-site credentials: sealed (AES-256-GCM), bound to their target, rotatable, never shown."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from matf.errors import ConfigError, UsageError
from matf.secrets.keyring import Keyring, generate_key, parse_keyring
from matf.secrets.store import SecretValue, delete_secret, list_secrets, normalize_origin, rotate
from matf.storage.db import session_scope
from matf.storage.models import TargetSecret
from tests.secretstore import CREDENTIALS, ORIGIN, PASSWORD, open_database, reveal, store


def _material(entry: str) -> str:
    """The base64 part of a ``kid:key`` entry."""
    return entry.partition(":")[2]


@pytest.fixture
def keyring(old_entry: str) -> Keyring:
    return parse_keyring(old_entry)


# --- sealing -----------------------------------------------------------------------------


def test_string_and_object_values_round_trip(tmp_path: Path, keyring: Keyring) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", CREDENTIALS)
    store(engine, keyring, ORIGIN, "api-token", "tok_123")

    assert reveal(engine, keyring) == CREDENTIALS
    assert reveal(engine, keyring, name="api-token") == "tok_123"
    assert reveal(engine, keyring, name="missing") is None


def test_setting_a_secret_again_replaces_it_and_keeps_its_creation_time(
    tmp_path: Path, keyring: Keyring
) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", "first")
    store(engine, keyring, ORIGIN, "login", "second")

    assert reveal(engine, keyring) == "second"
    with session_scope(engine) as session:
        [info] = list_secrets(session)
    assert info.updated_at >= info.created_at


def test_nothing_readable_reaches_the_database_file(tmp_path: Path, keyring: Keyring) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", CREDENTIALS)
    store(engine, keyring, ORIGIN, "other", CREDENTIALS)

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
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", CREDENTIALS)
    _tamper(engine, **changes)

    with pytest.raises(ConfigError) as info:
        reveal(engine, keyring, *looked_up_as)

    message = str(info.value)
    assert "cannot decrypt" in message
    assert "'old'" in message
    assert looked_up_as[1] in message
    assert PASSWORD not in message


def test_a_key_with_the_right_id_but_wrong_bytes_is_refused(
    tmp_path: Path, keyring: Keyring
) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", "pw")
    impostor = parse_keyring("old:" + _material(generate_key()))

    with pytest.raises(ConfigError, match="cannot decrypt secret 'login'"):
        reveal(engine, impostor)


# --- rotation ----------------------------------------------------------------------------


def test_rotation_moves_every_secret_to_the_new_key_so_the_old_one_can_go(
    tmp_path: Path, old_entry: str, new_entry: str
) -> None:
    engine = open_database(tmp_path)
    old_only = parse_keyring(old_entry)
    for name in ("login", "admin", "token"):
        store(engine, old_only, ORIGIN, name, f"value-of-{name}")
    store(engine, old_only, "http://127.0.0.1:8080", "login", CREDENTIALS)

    # Given the new key first and the old one still present, old rows still read.
    both = parse_keyring(f"{new_entry},{old_entry}")
    assert both.current.key_id == "new"
    assert reveal(engine, both, name="admin") == "value-of-admin"
    store(engine, both, ORIGIN, "fresh", "sealed-under-new")

    with session_scope(engine, write=True) as session:
        moved = rotate(session, both)
    with session_scope(engine, write=True) as session:
        again = rotate(session, both)

    assert (moved, again) == (4, 0)
    new_only = parse_keyring(new_entry)
    with session_scope(engine) as session:
        assert {info.key_id for info in list_secrets(session)} == {"new"}
    for name in ("login", "admin", "token"):
        assert reveal(engine, new_only, name=name) == f"value-of-{name}"
    assert reveal(engine, new_only, name="fresh") == "sealed-under-new"
    assert reveal(engine, new_only, "http://127.0.0.1:8080") == CREDENTIALS


def test_a_key_id_missing_from_the_keyring_is_named(
    tmp_path: Path, keyring: Keyring, new_entry: str
) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", "pw")

    with pytest.raises(ConfigError) as info:
        reveal(engine, parse_keyring(new_entry))

    assert "key id 'old'" in str(info.value)
    assert "ENCRYPTION_KEY" in str(info.value)


def test_rotation_is_all_or_nothing(tmp_path: Path, old_entry: str, new_entry: str) -> None:
    engine = open_database(tmp_path)
    lost = parse_keyring(generate_key("lost"))
    store(engine, parse_keyring(old_entry), ORIGIN, "a-readable", "pw")
    store(engine, lost, ORIGIN, "b-unreadable", "pw")

    with (
        pytest.raises(ConfigError, match="key id 'lost'"),
        session_scope(engine, write=True) as session,
    ):
        rotate(session, parse_keyring(f"{new_entry},{old_entry}"))

    with session_scope(engine) as session:
        key_ids = [info.key_id for info in list_secrets(session)]
    assert key_ids == ["old", "lost"]


# --- listing, deleting, origins ----------------------------------------------------------


def test_listing_shows_metadata_and_never_the_value(tmp_path: Path, keyring: Keyring) -> None:
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", CREDENTIALS)
    store(engine, keyring, "http://localhost:3000", "login", PASSWORD)

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
    engine = open_database(tmp_path)
    store(engine, keyring, ORIGIN, "login", "pw")

    with session_scope(engine, write=True) as session:
        first = delete_secret(session, ORIGIN, "login")
    with session_scope(engine, write=True) as session:
        second = delete_secret(session, ORIGIN, "login")

    assert (first, second) == (True, False)
    assert reveal(engine, keyring) is None


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
