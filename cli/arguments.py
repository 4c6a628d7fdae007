"""Values from the command line, parsed for several commands: lists, limits, sizes, sign-ins.

Each parser answers a one-line ``UsageError`` naming the bad value, which
``cli.main.main`` turns into exit code 2.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from matf.errors import UsageError
from matf.loginsuite import load_login_steps
from matf.options import ROLE_PATTERN, RunOptions
from matf.settings import Settings

TYPES = ("functional", "accessibility", "performance", "visual", "api")
DEFAULT_TYPES = "functional,accessibility"
BROWSERS = ("chromium", "firefox", "webkit")
WORKERS_HELP = (
    "Concurrent executors in embedded mode. Default: chosen from the machine, one per two "
    "usable cores as far as memory allows (about 0.5 GiB a browser); "
    "override with --workers N or MATF_EMBEDDED_WORKERS=N."
)


def run_limits(
    max_pages: int, max_interactions: int | None, max_depth: int | None
) -> dict[str, int]:
    """A run's limits as given; what is not given keeps ``Limits``' default."""
    given = {"max_interactions": max_interactions, "max_depth": max_depth}
    return {"max_pages": max_pages, **{k: v for k, v in given.items() if v is not None}}


def choices(value: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """``--what a,b``'s items, each one of ``allowed``, without repeats."""
    items = [item.strip().lower() for item in value.split(",") if item.strip()]
    if not items:
        raise UsageError(f"--{what} needs at least one of: {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise UsageError(f"unknown {what[:-1]} {item!r}: choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def parse_viewport(text: str) -> tuple[int, int]:
    """``"390x844"`` as (390, 844); a one-line UsageError otherwise."""
    width, sep, height = text.lower().strip().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise UsageError(f"invalid viewport {text!r}: use WIDTHxHEIGHT, e.g. 390x844")
    size = int(width), int(height)
    if not all(100 <= n <= 7680 for n in size):
        raise UsageError(f"invalid viewport {text!r}: each side must be 100 to 7680 pixels")
    return size


def clean_masks(given: tuple[str, ...]) -> tuple[str, ...]:
    """``--mask`` selectors, blank ones dropped."""
    cleaned = tuple(m.strip() for m in given if m.strip())
    for mask in cleaned:
        if len(mask) > 500:
            raise UsageError(f"--mask {mask[:40]!r}…: a selector over 500 characters")
    return cleaned


def parse_roles(value: str) -> list[str]:
    """``--as admin,user``'s roles: each signs in with the target secret ``login.<role>``."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise UsageError("--as needs at least one role, e.g. --as admin,user")
    for name in names:
        if not re.fullmatch(ROLE_PATTERN, name):
            raise UsageError(
                f"invalid role {name!r} in --as: use 1-40 lower-case letters, digits, '-' or '_', "
                "starting with a letter or digit (e.g. admin)"
            )
    return list(dict.fromkeys(names))


def login_options(
    enabled: bool,
    url: str | None,
    check: str | None,
    as_roles: str | None,
    suite: Path | None = None,
) -> dict[str, Any]:
    """The run's ``login`` options: any of the sign-in flags turns signing in on.

    ``--login-suite``'s file is read here: its steps travel in the options.
    """
    if suite is not None and url is not None:
        raise UsageError(
            "--login-suite and --login-url cannot be used together: the suite's steps sign in "
            "by themselves"
        )
    chosen = parse_roles(as_roles) if as_roles is not None else []
    steps = [step.model_dump(mode="json") for step in load_login_steps(suite)] if suite else []
    asked = (url, check, as_roles, suite)
    return {
        "enabled": enabled or any(value is not None for value in asked),
        "url": url,
        "check": check,
        "roles": chosen,
        "steps": steps,
    }


def parse_options(data: dict[str, Any]) -> RunOptions:
    """Run options from the command line's values; a one-line UsageError naming a bad one."""
    try:
        return RunOptions.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        raise UsageError(f"invalid option {where}: {err['msg']}") from exc


def setup_logging(settings: Settings, verbose: bool) -> None:
    """Celery and Playwright log a lot: keep it in a file unless asked for it."""
    root = logging.getLogger()
    root.handlers.clear()
    if verbose:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
    else:
        log_dir = Path(settings.storage_path).parent
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(log_dir / "matf.log", encoding="utf-8")
        except OSError:
            handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
