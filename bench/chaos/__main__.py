"""Run the chaos table: `python -m bench.chaos [--trials N] [--rows substring,...]`.

Prints one line per trial as it ends, then the table and the verdict; writes
reports/chaos/chaos.json (every trial) and reports/chaos/chaos.md (the table).
Exits 0 only when every target holds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.chaos.rows import FAULTS, Fault, chosen  # noqa: E402
from bench.chaos.table import Row, Trial, as_json, markdown_table, text_table, verdict  # noqa: E402
from matf.browser.errors import first_line  # noqa: E402

REPORTS = ROOT / "reports" / "chaos"


def main() -> int:
    args = _arguments()
    if shutil.which("redis-server") is None:
        sys.exit("chaos: redis-server is not installed (sudo apt-get install -y redis-server)")
    faults = chosen(args.rows)
    if not faults:
        sys.exit(f"chaos: no row matches {args.rows!r}; rows: {', '.join(f.key for f in FAULTS)}")
    from demo.server import DemoServer

    started = time.monotonic()
    with DemoServer(bugs=False) as demo, tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        work = Path(args.keep).resolve() if args.keep else Path(tmp)
        rows = [_row(fault, args.trials, demo.url, work) for fault in faults]
    minutes = (time.monotonic() - started) / 60
    load = "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    print("\n" + text_table(rows) + "\n\n" + verdict(rows) + f"\n({minutes:.1f} min, {load})")
    _write(rows, f"{minutes:.1f} min on {os.cpu_count()} cores, {load} at the end")
    return 0 if verdict(rows) == "targets met" else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.splitlines()[0]
    )
    env_trials = os.environ.get("CHAOS_TRIALS")
    parser.add_argument(
        "--trials",
        type=int,
        default=int(env_trials) if env_trials else None,
        help="trials of every row (env CHAOS_TRIALS; default: each row's own, 10-15 min in all)",
    )
    parser.add_argument(
        "--rows",
        help="comma-separated substrings of the rows to run: " + ", ".join(f.key for f in FAULTS),
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="keep every trial's folder (logs, database) in DIR"
    )
    return parser.parse_args()


def _row(fault: Fault, trials: int | None, site: str, tmp: Path) -> Row:
    row = Row(fault.title, fault.expect)
    for number in range(trials or fault.trials):
        started = time.monotonic()
        try:
            trial = fault.play(site, tmp / fault.key / str(number))
        except Exception as exc:  # noqa: BLE001 - a trial that broke is a row that missed
            trial = _broken(exc)
        row.trials.append(trial)
        took = "never ended" if trial.after_fault_s is None else f"{trial.after_fault_s:.1f} s"
        print(
            f"{fault.key} #{number + 1}: {trial.status} {took} after the fault, "
            f"{trial.lost} lost, {trial.duplicated} duplicated, {trial.chromium_left} chromium left"
            f" ({time.monotonic() - started:.0f} s; {trial.note})",
            flush=True,
        )
    return row


def _broken(exc: Exception) -> Trial:
    return Trial(
        0, 0, 0, 0, "bench error", None, None, 0, 0, first_line(f"{type(exc).__name__}: {exc}")
    )


def _write(rows: list[Row], took: str) -> None:
    REPORTS.mkdir(parents=True, exist_ok=True)
    data = {**as_json(rows), "took": took}
    (REPORTS / "chaos.json").write_text(json.dumps(data, indent=2) + "\n")
    (REPORTS / "chaos.md").write_text(
        f"# Chaos: issue 12's faults\n\n{markdown_table(rows)}\n\n{verdict(rows)}\n\n{took}\n"
    )
    print(f"wrote {REPORTS / 'chaos.json'} and {REPORTS / 'chaos.md'}")


if __name__ == "__main__":
    sys.exit(main())
