"""``matf secrets``: manage target-site credentials encrypted under ``ENCRYPTION_KEY``.

Values come from stdin or a hidden prompt, never from the command line, where
shell history and ``ps`` would keep them. No command prints a value back.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from matf.errors import UsageError
from matf.secrets.keyring import generate_key, keyring_from_settings
from matf.secrets.store import (
    SecretData,
    delete_secret,
    list_secrets,
    normalize_origin,
    put_secret,
    rotate,
)
from matf.settings import load_settings
from matf.storage.db import get_engine, session_scope


@click.group("secrets")
def secrets() -> None:
    """Credentials for target sites behind a login, encrypted at rest."""


@secrets.command()
@click.option("--id", "key_id", default=None, help="Key id (default: the key's fingerprint).")
def keygen(key_id: str | None) -> None:
    """Print a new KEYID:BASE64KEY entry for ENCRYPTION_KEY.

    To rotate, put the new entry first (ENCRYPTION_KEY=new,old), run
    'matf secrets rotate', then drop the old entry.
    """
    click.echo(generate_key(key_id))


def _read_value(as_json: bool) -> SecretData:
    """The secret from a hidden prompt on a terminal, else all of stdin."""
    if sys.stdin.isatty():
        text: str = click.prompt("Secret value", hide_input=True, confirmation_prompt=True)
    else:
        text = sys.stdin.read()
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
    if not text:
        raise UsageError("no secret value given: pipe it on stdin or type it at the prompt")
    if not as_json:
        return text
    try:
        value: Any = json.loads(text)
    except ValueError as exc:
        raise UsageError("--json needs a JSON object on stdin") from exc
    if not isinstance(value, dict):
        raise UsageError("--json needs a JSON object on stdin")
    return value


@secrets.command("set", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("origin")
@click.argument("name")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Read a JSON object, e.g. {"username": "...", "password": "..."}.',
)
@click.pass_context
def set_(ctx: click.Context, origin: str, name: str, as_json: bool) -> None:
    """Store secret NAME for ORIGIN, reading the value from stdin or a hidden prompt."""
    if ctx.args:
        raise UsageError(
            "secret values are never taken from the command line (shell history and ps "
            "would keep them): pipe the value on stdin or type it at the prompt"
        )
    settings = load_settings()
    keyring = keyring_from_settings(settings)
    origin = normalize_origin(origin)
    value = _read_value(as_json)
    with session_scope(get_engine(settings.database_url), write=True) as session:
        info = put_secret(session, keyring, origin, name, value)
    click.echo(f"stored secret {info.name!r} for {info.origin} under key id {info.key_id}")


@secrets.command("list")
@click.argument("origin", required=False)
def list_(origin: str | None) -> None:
    """List stored secrets (origin, name, key id, last set); never their values."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url)) as session:
        infos = list_secrets(session, origin)
    if not infos:
        click.echo("no secrets stored" + (f" for {normalize_origin(origin)}" if origin else ""))
        return
    for info in infos:
        click.echo(f"{info.origin}\t{info.name}\t{info.key_id}\t{info.updated_at:%Y-%m-%d %H:%M}")


@secrets.command()
@click.argument("origin")
@click.argument("name")
def delete(origin: str, name: str) -> None:
    """Delete secret NAME of ORIGIN."""
    settings = load_settings()
    with session_scope(get_engine(settings.database_url), write=True) as session:
        deleted = delete_secret(session, origin, name)
    if not deleted:
        raise UsageError(f"no secret {name!r} stored for {normalize_origin(origin)}")
    click.echo(f"deleted secret {name!r} for {normalize_origin(origin)}")


@secrets.command("rotate")
def rotate_() -> None:
    """Re-encrypt every secret under the first key of ENCRYPTION_KEY."""
    settings = load_settings()
    keyring = keyring_from_settings(settings)
    with session_scope(get_engine(settings.database_url), write=True) as session:
        count = rotate(session, keyring)
    click.echo(
        f"re-encrypted {count} secret{'' if count == 1 else 's'} under key id "
        f"{keyring.current.key_id}"
    )
    if len(keyring.key_ids) > 1:
        click.echo(
            f"every secret is now under {keyring.current.key_id}: the other keys "
            f"({', '.join(keyring.key_ids[1:])}) can be dropped from ENCRYPTION_KEY",
            err=True,
        )
