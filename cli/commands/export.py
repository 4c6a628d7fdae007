"""``matf export``: write a suite as pytest-playwright files its users own and run without MATF."""

from __future__ import annotations

from pathlib import Path

import click

from matf.export import export_suite
from matf.spec import load_suite


@click.command("export")
@click.argument("suite", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into: new, empty, or holding a previous export.",
)
def export(suite: Path, out: Path) -> None:
    """Write SUITE as readable pytest-playwright tests (one per spec) into DIR.

    Run them with 'pip install pytest-playwright' and 'pytest'; MATF_BASE_URL
    points them at another deployment of the site.
    """
    loaded = load_suite(suite)
    written = export_suite(loaded, out)
    modules = sum(1 for path in written if path.name.startswith("test_"))
    tests = len(loaded.tests)
    click.echo(
        f"wrote {tests} test{'s' if tests != 1 else ''} "
        f"in {modules} file{'s' if modules != 1 else ''} to {out}"
    )
