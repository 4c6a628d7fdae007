"""``matf users`` and ``matf keys``: the first admin, accounts' lives, machine credentials.

Passwords come from a hidden prompt or stdin, never from the command line,
where shell history and ``ps`` would keep them. A new API key is printed once.
A new role or password, deactivation and deletion end the user's sessions at
once; the last active admin cannot be demoted, deactivated or deleted.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy import Engine, select

from matf.auth import (
    ROLES,
    change_role,
    create_api_key,
    create_user,
    delete_user,
    find_user,
    revoke_api_key,
    set_active,
    set_password,
)
from matf.errors import NotFound, UsageError
from matf.settings import load_settings
from matf.storage.db import get_engine, session_scope
from matf.storage.models import ApiKey, User


@click.group("users")
def users() -> None:
    """People who sign in to the API and dashboard."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--name", default="", help="Display name.")
def create(email: str, role: str, name: str) -> None:
    """Add a user; the password is read from a hidden prompt or stdin."""
    password = _read_password()
    engine = _engine()
    with session_scope(engine, write=True) as session:
        user = create_user(session, email, password, role, name)
        click.echo(f"created {user.role} {user.email} (id {user.id})")


@users.command("list")
def list_() -> None:
    """Every user: id, email, role, active."""
    engine = _engine()
    with session_scope(engine) as session:
        for user in session.scalars(select(User).order_by(User.id)):
            state = "active" if user.active else "disabled"
            click.echo(f"{user.id}\t{user.email}\t{user.role}\t{state}")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def set_role(email: str, role: str) -> None:
    """Change a user's role; they sign in again."""
    with session_scope(_engine(), write=True) as session:
        user = find_user(session, email)
        change_role(session, user, role)
        click.echo(f"{user.email} is now {role}")


@users.command("set-password")
@click.argument("email")
def set_password_(email: str) -> None:
    """Give a user a new password (hidden prompt or stdin); their sessions end."""
    password = _read_password()
    with session_scope(_engine(), write=True) as session:
        user = find_user(session, email)
        set_password(user, password)
        click.echo(f"new password set for {user.email}; their sessions have ended")


@users.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Stop a user signing in: their sessions end and their API keys are revoked."""
    with session_scope(_engine(), write=True) as session:
        user = find_user(session, email)
        revoked = set_active(session, user, False)
        click.echo(f"deactivated {user.email}{_keys_note(revoked)}")


@users.command("activate")
@click.argument("email")
def activate(email: str) -> None:
    """Let a deactivated user sign in again (revoked API keys stay revoked)."""
    with session_scope(_engine(), write=True) as session:
        user = find_user(session, email)
        set_active(session, user, True)
        click.echo(f"activated {user.email}")


@users.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def delete(email: str, yes: bool) -> None:
    """Delete a user for good: their sessions end and their API keys are revoked."""
    engine = _engine()
    if not yes:  # asked before the write transaction: a prompt must not hold the database
        with session_scope(engine) as session:
            user = find_user(session, email)
        _confirm(f"delete {user.email} ({user.role})? This cannot be undone")
    with session_scope(engine, write=True) as session:
        user = find_user(session, email)
        revoked = delete_user(session, user)
        click.echo(f"deleted {user.email}{_keys_note(revoked)}")


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"{question.split('?')[0]}: add --yes to confirm")
    if not click.confirm(question, default=False):
        raise UsageError("nothing deleted")


def _keys_note(revoked: list[int]) -> str:
    return f"; revoked {len(revoked)} API key(s): {', '.join(map(str, revoked))}" if revoked else ""


def _engine() -> Engine:
    return get_engine(load_settings().database_url)


def _read_password() -> str:
    if sys.stdin.isatty():
        text: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise UsageError("no password given: pipe it on stdin or type it at the prompt")
    return text


@click.group("keys")
def keys() -> None:
    """API keys for machines (CI, scripts); each has a role."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
def create_key(name: str, role: str) -> None:
    """Make a key and print it once: it is stored only as a hash."""
    engine = _engine()
    with session_scope(engine, write=True) as session:
        row, plain = create_api_key(session, name, role)
        click.echo(
            f"created {role} key {row.id} ({row.name}); store it now, it is not shown again:",
            err=True,
        )
        click.echo(plain)


@keys.command("list")
def list_keys() -> None:
    """Every key: id, prefix, name, role, state."""
    engine = _engine()
    with session_scope(engine) as session:
        for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
            state = "revoked" if row.revoked_at else "active"
            click.echo(f"{row.id}\t{row.prefix}\t{row.name}\t{row.role}\t{state}")


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Revoke a key: it stops working at once."""
    engine = _engine()
    with session_scope(engine, write=True) as session:
        if revoke_api_key(session, key_id) is None:
            raise NotFound(f"no API key {key_id}")
        click.echo(f"revoked key {key_id}")
