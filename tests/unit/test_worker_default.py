"""Embedded mode's default number of workers comes from the machine; a setting or flag wins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from matf.errors import ConfigError
from matf.options import (
    BROWSER_MEMORY,
    MAX_DEFAULT_WORKERS,
    available_memory,
    default_workers,
    embedded_workers,
    usable_cores,
)
from matf.settings import load_settings

GIB = 2**30


@pytest.mark.parametrize(
    ("cores", "memory", "expected"),
    [
        (1, 16 * GIB, 1),  # one core: one worker
        (2, 16 * GIB, 1),  # two cores: the browser takes the second (the measured curve)
        (3.5, 16 * GIB, 1),  # a fractional quota rounds down
        (4, 16 * GIB, 2),
        (8, 64 * GIB, 4),
        (8, 2 * BROWSER_MEMORY, 2),  # memory for two browsers only
        (8, BROWSER_MEMORY // 2, 1),  # not even one browser's worth: still one worker
        (8, None, 4),  # memory unknown: cores decide
        (256, 1024 * GIB, MAX_DEFAULT_WORKERS),  # one Python process drives them all
    ],
)
def test_default_workers_follow_cores_and_memory(
    cores: float, memory: int | None, expected: int
) -> None:
    assert default_workers(cores, memory) == expected


def test_a_cgroup_cpu_quota_caps_the_usable_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))

    cpu_max.write_text("50000 100000\n")
    assert usable_cores(cpu_max) == 0.5

    cpu_max.write_text("max 100000\n")
    assert usable_cores(cpu_max) == affinity

    assert usable_cores(tmp_path / "missing") == affinity


def test_available_memory_reads_meminfo_and_a_cgroup_limit(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       8000000 kB\nMemAvailable:   4000000 kB\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()

    assert available_memory(meminfo, cgroup) == 4_000_000 * 1024  # no cgroup files

    (cgroup / "memory.max").write_text("max\n")
    assert available_memory(meminfo, cgroup) == 4_000_000 * 1024

    (cgroup / "memory.max").write_text(f"{3 * GIB}\n")
    (cgroup / "memory.current").write_text(f"{GIB}\n")
    assert available_memory(meminfo, cgroup) == 2 * GIB  # the container's limit is tighter

    assert available_memory(tmp_path / "missing", tmp_path / "none") is None


def test_the_setting_overrides_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATF_EMBEDDED_WORKERS", "3")
    assert embedded_workers(load_settings(_env_file=None)) == 3

    monkeypatch.setenv("MATF_EMBEDDED_WORKERS", "")  # blank: unset
    settings = load_settings(_env_file=None)
    assert settings.matf_embedded_workers is None
    assert embedded_workers(settings) == default_workers(usable_cores(), available_memory())

    monkeypatch.setenv("MATF_EMBEDDED_WORKERS", "0")
    with pytest.raises(ConfigError, match="MATF_EMBEDDED_WORKERS"):
        load_settings(_env_file=None)


def test_run_help_says_how_the_default_is_chosen_and_overridden() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "Default: chosen from the machine" in result.output
    assert "--workers N or MATF_EMBEDDED_WORKERS=N" in result.output
