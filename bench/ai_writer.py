"""The AI writer on the demo site: what it writes per page, what it keeps, what it costs.

Mistral cannot be reached from these machines, so the real ``mistralai``
client talks to a local server speaking Mistral's API (``tests.mistral_server``)
whose answers are scripted from the page snapshot it is sent, per page:

- a test of the page's first heading (the site meets it);
- on /newsletter, the subscription journey (the site meets it);
- an assertion the site does not meet ("Welcome back"): a finding;
- a click on a button that does not exist: must be dropped at verification;
- on /about, the first answer also leaves the origin: one repair round.

The figures measure the platform (checks, repair, verification, cache,
accounting), not the model's judgement. Token counts are estimates (4
characters a token) of what was actually sent and answered.

    .venv/bin/python bench/ai_writer.py [--pages 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo.server import DemoServer  # noqa: E402
from matf.llm.prompts import CLOSE_MARKER, OPEN_MARKER  # noqa: E402
from tests.mistral_server import FakeMistral  # noqa: E402

JOURNEY: list[dict[str, Any]] = [
    {"action": "goto", "url": "/newsletter"},
    {"action": "fill", "target": {"label": "Name"}, "value": "Ann"},
    {"action": "fill", "target": {"label": "Email address"}, "value": "ann@example.com"},
    {"action": "check", "target": {"label": "I agree to receive the Acme newsletter"}},
    {"action": "submit", "target": {"role": "button", "name": "Subscribe"}},
    {"action": "expect_text", "target": {"role": "status"}, "text": "Thanks, Ann!"},
]


def answer(request: dict[str, Any]) -> str:
    """A scripted model: tests built from the page it is shown (see the module's doc)."""
    messages = request["messages"]
    if messages[-2]["role"] == "assistant":
        # The repair round: the same tests without the one that left the origin.
        first = json.loads(messages[-2]["content"])
        tests = [t for t in first["tests"] if not t["id"].endswith("elsewhere")]
        return json.dumps({"tests": tests})
    page = json.loads(messages[1]["content"].split(OPEN_MARKER, 1)[1].split(CLOSE_MARKER, 1)[0])
    path = urlsplit(page["url"]).path or "/"
    slug = path.strip("/").replace("/", "-") or "home"
    heading = (page.get("headings") or [page.get("title") or ""])[0]
    where = {"role": "heading", "name": heading}

    def test(suffix: str, name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": f"{slug}-{suffix}", "name": name, "url": page["url"], "steps": steps}

    goto: dict[str, Any] = {"action": "goto", "url": path}
    tests = [
        test(
            "heading",
            f"{path} says what it is",
            [goto, {"action": "expect_text", "target": where, "text": heading}],
        ),
        test(
            "welcome",
            f"{path} welcomes a returning visitor",
            [goto, {"action": "expect_text", "target": where, "text": "Welcome back"}],
        ),
        test(
            "unsubscribe",
            f"A visitor unsubscribes on {path}",
            [
                goto,
                {"action": "click", "target": {"role": "button", "name": "Unsubscribe forever"}},
            ],
        ),
    ]
    if path == "/newsletter":
        tests.append(test("subscribe", "A visitor subscribes", JOURNEY))
    if path == "/about":
        tests.append(
            test(
                "elsewhere",
                "Visit the partner site",
                [{"action": "goto", "url": "https://partner.example/"}],
            )
        )
    return json.dumps({"tests": tests})


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def run(folder: Path, url: str, out: str, fake: FakeMistral, pages: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'matf.db'}",
        STORAGE_PATH=str(folder / "storage"),
        PYTHONPATH=str(ROOT),
        MISTRAL_API_KEY="bench",
        MISTRAL_SERVER_URL=fake.url,
        TEST_RETRIES="0",
    )
    before = len(fake.requests)
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "run",
            url,
            "--types",
            "functional",
            "--max-pages",
            str(pages),
            "--out",
            str(folder / out),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"matf run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads((folder / out / "report.json").read_text())
    sent = [body for _headers, body in fake.requests[before:]]
    return {"report": report, "sent": sent, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5)
    args = parser.parse_args()
    with (
        DemoServer(bugs=False) as demo,
        FakeMistral(responder=answer) as fake,
        tempfile.TemporaryDirectory(prefix="matf-bench-ai-") as tmp,
    ):
        first = run(Path(tmp), demo.url, "first", fake, args.pages)
        second = run(Path(tmp), demo.url, "second", fake, args.pages)
    llm = first["report"]["run"]["llm"]
    per_request = [tokens(json.dumps(body["messages"])) for body in first["sent"]]
    kept = llm["verified"] + llm["findings"]
    print(f"AI writer on the healthy demo, {llm['pages']} pages (scripted local model)")
    spread = f"{min(per_request):,}-{max(per_request):,} per request"
    print(
        f"  run 1: {len(first['sent'])} calls ({llm['calls']} counted), "
        f"~{sum(per_request):,} input tokens sent ({spread}), {first['seconds']:.0f} s"
    )
    print(
        f"  proposals: {llm['proposed']} after checks; verified {llm['verified']}, "
        f"findings {llm['findings']}, dropped {len(llm['dropped'])} "
        f"({kept / max(llm['proposed'], 1):.0%} kept)"
    )
    print(f"  tests written per page: {kept / max(llm['pages'], 1):.1f}")
    for reason in llm["dropped"]:
        print(f"    dropped: {reason[:110]}")
    again = second["report"]["run"]["llm"]
    print(
        f"  run 2 (unchanged site): {len(second['sent'])} calls, "
        f"{again['cached_pages']} of {again['pages']} pages from the cache, "
        f"{second['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
