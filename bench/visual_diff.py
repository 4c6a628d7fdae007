"""Visual diff: matf.pixeldiff.compare on two 1280x2000 screenshots, against a naive loop.

Renders a page-like baseline (header, paragraphs of text, cards, buttons, a
gradient picture) and an actual with a few real changes plus one text line
shifted by a pixel, so that both real differences and anti-aliasing are found.
Times ``compare`` on the PNG bytes (decoding included, as a visual check does
it) with and without the diff image, and on decoded arrays; then times a
plain per-pixel Python port of pixelmatch on sampled bands of rows and
extrapolates it to the whole page for the speed-up ratio.

    .venv/bin/python bench/visual_diff.py [--repeat 20] [--width 1280] [--height 2000]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matf.pixeldiff import compare, decode_png  # noqa: E402

TARGET_MS = 100.0
PROSE = (
    "visual regression testing compares every screenshot with its approved baseline and "
    "reports the pixels that changed while anti aliased edges of text and shapes are ignored "
    "because fonts and rasterisers round differently from one run to the next"
)
WORDS = PROSE.split()


# --- the pages ------------------------------------------------------------------------------


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def page(width: int, height: int, changed: bool) -> bytes:
    """A screenshot-like PNG; ``changed`` moves and recolours a few things."""
    rng = random.Random(7)
    image = Image.new("RGBA", (width, height), (255, 255, 255, 255))
    pen = ImageDraw.Draw(image)
    pen.rectangle([0, 0, width, 72], fill="#1f3a5f")
    pen.text((32, 20), "MATF Outdoor Store", fill="white", font=font(28))
    for i, label in enumerate(["Products", "About", "Contact", "Newsletter"]):
        pen.text((width - 520 + i * 120, 28), label, fill="#dfe7f0", font=font(18))
    # the text column: paragraphs of 16 px text, 24 px apart
    column = int(width * 0.62)
    body, y, line = font(16), 110, 0
    while y < height - 60:
        if rng.random() < 0.12:
            pen.text((40, y + 6), " ".join(rng.choices(WORDS, k=4)).title(), "#111", font(24))
            y += 44
            continue
        words = " ".join(rng.choices(WORDS, k=rng.randint(9, 13)))
        x = 40
        if changed and line == 17:
            x += 1  # one line a pixel to the right: mostly anti-aliasing
        if changed and line == 40:
            words = words.replace("e", "a", 3)  # an edit in the copy
        pen.text((x, y), words, fill="#333", font=body)
        y += 24
        line += 1
    # the sidebar: a picture and cards with a button each
    left = column + 40
    gradient = np.linspace(0, 1, width - left - 40)[None, :, None]
    colours = (1 - gradient) * np.array([40, 120, 200]) + gradient * np.array([240, 170, 60])
    picture = np.repeat(colours, 260, axis=0).astype(np.uint8)
    image.paste(Image.fromarray(picture).convert("RGBA"), (left, 110))
    for card in range(6):
        top = 410 + card * 250
        pen.rounded_rectangle([left, top, width - 40, top + 220], 12, fill="#f2f4f7")
        pen.text((left + 20, top + 18), f"Trail pack {card + 1}", fill="#111", font=font(22))
        for k in range(3):
            pen.text((left + 20, top + 60 + k * 22), " ".join(rng.choices(WORDS, k=5)),
                     fill="#555", font=body)  # fmt: skip
        button = "#2a7de1" if not (changed and card == 2) else "#1c6cd0"
        pen.rounded_rectangle([left + 20, top + 150, left + 180, top + 196], 8, fill=button)
        pen.text((left + 48, top + 162), "Add to cart", fill="white", font=font(18))
    if changed:
        pen.ellipse([width - 110, 12, width - 62, 60], fill="#e23c3c")  # a new badge
        pen.text((width - 94, 22), "3", fill="white", font=font(22))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- the naive loop -------------------------------------------------------------------------


def _delta(i1: bytes, k: int, i2: bytes, m: int, y_only: bool) -> float:
    """pixelmatch's colour distance (YIQ) of pixel ``k`` of ``i1`` and ``m`` of ``i2``."""
    r1, g1, b1, a1 = i1[k], i1[k + 1], i1[k + 2], i1[k + 3]
    r2, g2, b2, a2 = i2[m], i2[m + 1], i2[m + 2], i2[m + 3]
    if a1 == a2 and r1 == r2 and g1 == g2 and b1 == b2:
        return 0.0
    f1, f2 = a1 / 255, a2 / 255
    r1f, g1f, b1f = 255 + (r1 - 255) * f1, 255 + (g1 - 255) * f1, 255 + (b1 - 255) * f1
    r2f, g2f, b2f = 255 + (r2 - 255) * f2, 255 + (g2 - 255) * f2, 255 + (b2 - 255) * f2
    y = (r1f * 0.29889531 + g1f * 0.58662247 + b1f * 0.11448223) - (
        r2f * 0.29889531 + g2f * 0.58662247 + b2f * 0.11448223
    )
    if y_only:
        return y
    i = (r1f * 0.59597799 - g1f * 0.27417610 - b1f * 0.32180189) - (
        r2f * 0.59597799 - g2f * 0.27417610 - b2f * 0.32180189
    )
    q = (r1f * 0.21147017 - g1f * 0.52261711 + b1f * 0.31114694) - (
        r2f * 0.21147017 - g2f * 0.52261711 + b2f * 0.31114694
    )
    return 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q


def _siblings(img: bytes, x1: int, y1: int, width: int, height: int) -> bool:
    """Whether pixel (x1, y1) has more than two identical neighbours."""
    x0, y0, x2, y2 = (
        max(x1 - 1, 0),
        max(y1 - 1, 0),
        min(x1 + 1, width - 1),
        min(y1 + 1, height - 1),
    )
    pos = (y1 * width + x1) * 4
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    for x in range(x0, x2 + 1):
        for y in range(y0, y2 + 1):
            other = (y * width + x) * 4
            if (x != x1 or y != y1) and img[pos : pos + 4] == img[other : other + 4]:
                zeroes += 1
                if zeroes > 2:
                    return True
    return False


def _antialiased(img: bytes, other: bytes, x1: int, y1: int, width: int, height: int) -> bool:
    """pixelmatch's test: is pixel (x1, y1) of ``img`` an anti-aliased edge?"""
    x0, y0, x2, y2 = (
        max(x1 - 1, 0),
        max(y1 - 1, 0),
        min(x1 + 1, width - 1),
        min(y1 + 1, height - 1),
    )
    pos = (y1 * width + x1) * 4
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    low = high = 0.0
    lo = hi = (0, 0)
    for x in range(x0, x2 + 1):
        for y in range(y0, y2 + 1):
            if x == x1 and y == y1:
                continue
            d = _delta(img, pos, img, (y * width + x) * 4, True)
            if d == 0:
                zeroes += 1
                if zeroes > 2:
                    return False
            elif d < low:
                low, lo = d, (x, y)
            elif d > high:
                high, hi = d, (x, y)
    if low == 0 or high == 0:
        return False
    return (_siblings(img, *lo, width, height) and _siblings(other, *lo, width, height)) or (
        _siblings(img, *hi, width, height) and _siblings(other, *hi, width, height)
    )


def naive_pixelmatch(a: bytes, b: bytes, width: int, height: int, threshold: float) -> int:
    """pixelmatch as a plain per-pixel Python loop over raw RGBA bytes."""
    max_delta = 35215 * threshold * threshold
    diff = 0
    for y in range(height):
        for x in range(width):
            pos = (y * width + x) * 4
            if _delta(a, pos, b, pos, False) > max_delta and not (
                _antialiased(a, b, x, y, width, height) or _antialiased(b, a, x, y, width, height)
            ):
                diff += 1
    return diff


# --- timing ---------------------------------------------------------------------------------


def timed(call: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process CPU milliseconds of ``repeat`` calls, after one warm call.

    CPU time is what the call itself costs, steady even on a busy machine."""
    call()
    wall, cpu = [], []
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        cpu.append((time.process_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return wall, cpu


def median(values: list[float]) -> float:
    return float(np.median(values))


def parse_arguments() -> argparse.Namespace:
    """The command line: page size, runs per variant, the naive loop's sampling."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per variant")
    parser.add_argument("--threshold", type=float, default=0.1)
    parser.add_argument("--bands", type=int, default=16, help="row bands the naive loop samples")
    parser.add_argument("--band-rows", type=int, default=6)
    return parser.parse_args()


def time_compare(
    baseline: bytes, actual: bytes, a: np.ndarray, b: np.ndarray, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    """Time each way of calling ``compare``, print a table; median (wall, cpu) ms by variant."""
    variants = [
        ("png in, diff image", lambda: compare(baseline, actual, threshold=args.threshold)),
        (
            "png in, no image",
            lambda: compare(baseline, actual, threshold=args.threshold, diff_image=False),
        ),
        ("arrays in, diff image", lambda: compare(a, b, threshold=args.threshold)),
        (
            "arrays in, no image",
            lambda: compare(a, b, threshold=args.threshold, diff_image=False),
        ),
        ("identical png, diff image", lambda: compare(baseline, baseline)),
        ("decode_png x2 alone", lambda: (decode_png(baseline), decode_png(actual))),
    ]
    medians: dict[str, tuple[float, float]] = {}
    print(
        f"\n{'compare':<28} {'median ms':>10} {'p95 ms':>8} {'min ms':>8} {'cpu ms':>8}"
        f"   ({args.repeat} runs; cpu: median process CPU time, all threads)"
    )
    for name, call in variants:
        wall, cpu = timed(call, args.repeat)
        medians[name] = (median(wall), median(cpu))
        print(
            f"{name:<28} {median(wall):>10.1f} {float(np.percentile(wall, 95)):>8.1f} "
            f"{min(wall):>8.1f} {median(cpu):>8.1f}"
        )
    return medians


def time_naive(
    a: np.ndarray, b: np.ndarray, args: argparse.Namespace
) -> tuple[int, float, float, int]:
    """The naive loop on evenly spaced bands of rows: (pixels, seconds, CPU seconds, differing)."""
    starts = np.linspace(0, args.height - args.band_rows, args.bands).astype(int)
    sampled, naive_s, naive_cpu_s = 0, 0.0, 0.0
    sampled_diff = 0
    for top in starts:
        crop_a = a[top : top + args.band_rows].tobytes()
        crop_b = b[top : top + args.band_rows].tobytes()
        started, started_cpu = time.perf_counter(), time.process_time()
        naive_pixelmatch(crop_a, crop_b, args.width, args.band_rows, args.threshold)
        naive_cpu_s += time.process_time() - started_cpu
        naive_s += time.perf_counter() - started
        sampled += args.width * args.band_rows
        sampled_diff += int(
            np.count_nonzero(
                a[top : top + args.band_rows].view(np.uint32)
                != b[top : top + args.band_rows].view(np.uint32)
            )
        )
    return sampled, naive_s, naive_cpu_s, sampled_diff


def check_agreement(
    a: np.ndarray, b: np.ndarray, width: int, height: int, threshold: float
) -> None:
    """Print what the naive loop and ``compare`` find in 24 rows around the busiest row."""
    busiest = int(np.argmax((a.view(np.uint32) != b.view(np.uint32)).sum(axis=(1, 2))))
    top = min(max(busiest - 12, 0), max(height - 24, 0))
    band_a, band_b = a[top : top + 24], b[top : top + 24]
    rows = band_a.shape[0]
    naive = naive_pixelmatch(band_a.tobytes(), band_b.tobytes(), width, rows, threshold)
    vector = compare(band_a, band_b, threshold=threshold, diff_image=False)
    agree = "same" if naive == vector.changed else "DIFFERENT"
    print(
        f"changed px in rows {top}-{top + rows - 1}: naive {naive}, compare {vector.changed} "
        f"({agree}; {vector.antialiased} anti-aliased)"
    )


def main() -> None:
    """Render the two pages, time compare and the naive loop, print how they compare."""
    args = parse_arguments()
    width, height = args.width, args.height
    baseline, actual = page(width, height, False), page(width, height, True)
    a, b = decode_png(baseline), decode_png(actual)
    result = compare(baseline, actual, threshold=args.threshold)
    differing = int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))
    print(f"images: {width}x{height} RGBA, PNG {len(baseline) // 1024} + {len(actual) // 1024} KiB")
    print(
        f"result: changed {result.changed} px ({result.ratio:.4%}), antialiased "
        f"{result.antialiased} px, {differing} px not byte-identical, "
        f"diff PNG {len(result.diff_png or b'') // 1024} KiB"
    )
    medians = time_compare(baseline, actual, a, b, args)

    # the naive loop on sampled bands, extrapolated per pixel to the page
    sampled, naive_s, naive_cpu_s, sampled_diff = time_naive(a, b, args)
    scale = width * height * 1000 / sampled
    naive_full_ms, naive_full_cpu_ms = naive_s * scale, naive_cpu_s * scale
    print(
        f"\nnaive per-pixel loop: {naive_s * 1e6 / sampled:.2f} us/px on {int(sampled)} sampled px "
        f"({sampled_diff / sampled:.2%} differing there, {differing / (width * height):.2%} "
        f"on the page)"
    )
    check_agreement(a, b, width, height, args.threshold)  # the two agree where it changed most
    print(
        f"naive extrapolated to {width}x{height}: {naive_full_ms:.0f} ms "
        f"({naive_full_cpu_ms:.0f} ms cpu)"
    )
    for name in ("arrays in, no image", "arrays in, diff image"):
        wall_ms, cpu_ms = medians[name]
        print(
            f"speed-up (naive / {name}): {naive_full_ms / wall_ms:.0f}x wall, "
            f"{naive_full_cpu_ms / cpu_ms:.0f}x cpu"
        )
    wall_ms, cpu_ms = medians["png in, diff image"]
    print(
        f"\ntarget under {TARGET_MS:.0f} ms for a {width}x{height} compare with the diff image, "
        f"PNG decoding included: {wall_ms:.1f} ms median "
        f"({'met' if wall_ms < TARGET_MS else 'NOT met'}; {cpu_ms:.1f} ms of CPU, the two PNGs "
        f"decoding in parallel)"
    )


if __name__ == "__main__":
    main()
