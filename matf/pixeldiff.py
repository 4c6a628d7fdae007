"""Anti-aliasing-aware pixel diff for visual regression, after mapbox/pixelmatch (v5/v6).

The algorithm, per pixel of the compared canvas:

1. **Colour delta.** Both pixels are blended on white by their alpha
   (``c' = 255 + (c - 255) * a / 255``), converted to YIQ, and their squared
   distance is weighted ``0.5053 dY² + 0.299 dI² + 0.1957 dQ²`` (Kotsarenko and
   Ramos). 35215 is the largest value this can take, so a pixel differs when
   the delta exceeds ``35215 * threshold**2``.
2. **Anti-aliasing.** A differing pixel is ignored (drawn yellow, not counted)
   when it looks like anti-aliasing in either image (Vysniauskas' detector):
   among its 3x3 neighbours (an edge pixel counts one "equal" neighbour for
   free) at most two have the same brightness, some are darker and some
   brighter, and the darkest or the brightest neighbour (the first found,
   scanning x outer, y inner) has three or more identical neighbours itself
   in *both* images, i.e. it sits in a flat area, not in a gradient.
3. **Output.** Changed pixels are counted and drawn red; everything else is
   the baseline as a faded grey (its luma blended on white at alpha 0.1).

This module computes the same result without a per-pixel Python loop.
Identical images return at once; the delta is computed only for pixels that
are not byte-identical, the anti-aliasing test only for pixels over the
threshold. The eight neighbours of all those pixels are gathered at once by
flat-index arithmetic (``index + dy * width + dx``), with a 16-row table,
indexed by which sides of a pixel have neighbours, masking the ones beyond
the border; when most pixels differ, brightness and "many siblings" come from
whole-image maps (shifted-view comparisons) instead. Every floating point
operation is pixelmatch's, in its order, so the counts are exactly its counts.

Images of different sizes are compared on the union canvas: each is padded
with transparent pixels, and every pixel outside either image counts as
changed (``size_changed`` is set). With ``include_aa`` anti-aliased pixels
count as changes and ``antialiased`` is 0. The diff image is a palette PNG;
its grey comes from Pillow's integer luma (ITU-R 601), which may differ from
pixelmatch's by one level; red and yellow pixels are exactly pixelmatch's.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image

__all__ = ["DiffResult", "compare", "decode_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_YIQ_DELTA = 35215.0

# The eight neighbours in pixelmatch's scan order: x outer, y inner, centre skipped.
_DX = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DY = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)

# _INSIDE[sides][j]: whether neighbour j exists, for a pixel with neighbours on ``sides``
# (bit mask: left 1, right 2, top 4, bottom 8)
_INSIDE = np.array(
    [
        [
            (dx >= 0 or bool(sides & 1))
            and (dx <= 0 or bool(sides & 2))
            and (dy >= 0 or bool(sides & 4))
            and (dy <= 0 or bool(sides & 8))
            for dx, dy in zip(_DX.tolist(), _DY.tolist(), strict=True)
        ]
        for sides in range(16)
    ],
    dtype=np.bool_,
)

_CHUNK = 1 << 18  # pixels per vectorised batch, to bound temporary memory

# Diff image palette: faded greys are always >= 229 (255 - 255 * 0.1), so the
# low indices are free for the highlight colours.
_RED = 0
_YELLOW = 1
_PALETTE = [255, 0, 0, 255, 255, 0] + [v for i in range(2, 256) for v in (i, i, i)]
# grey for an opaque pixel of luma L, the baseline at alpha 0.1 on white:
# floor(255 + (L - 255) * 0.1)
_FADE_LUT = [255 - (255 - lum + 9) // 10 for lum in range(256)]

Indices = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
RGBA = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class DiffResult:
    """What :func:`compare` found."""

    width: int  # compared canvas (max of both sizes)
    height: int
    changed: int  # pixels over the threshold, anti-aliasing excluded
    antialiased: int  # differing pixels classified as anti-aliasing (ignored)
    size_changed: bool  # baseline and actual differ in size
    baseline_size: tuple[int, int]  # (width, height)
    actual_size: tuple[int, int]
    diff_png: bytes | None = field(default=None, repr=False)  # None when not asked for

    @property
    def ratio(self) -> float:
        """Share of the canvas that changed, 0.0 for an empty canvas."""
        total = self.width * self.height
        return self.changed / total if total else 0.0


def decode_png(data: bytes) -> RGBA:
    """Decode PNG bytes to an HxWx4 ``uint8`` RGBA array; ValueError on anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError(f"expected PNG bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw.startswith(PNG_SIGNATURE):
        raise ValueError("not PNG data (bad signature)")
    try:
        with Image.open(io.BytesIO(raw), formats=["PNG"]) as image:
            image.load()
            rgba = image if image.mode == "RGBA" else image.convert("RGBA")
            array = np.asarray(rgba, dtype=np.uint8)
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, zlib.error...)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"cannot decode PNG: {reason}") from exc
    if array.ndim != 3 or array.shape[2] != 4:
        raise ValueError(f"cannot decode PNG: unexpected pixel layout {array.shape}")
    return np.ascontiguousarray(array)


def compare(
    baseline: bytes | np.ndarray,
    actual: bytes | np.ndarray,
    *,
    threshold: float = 0.1,
    include_aa: bool = False,
    diff_image: bool = True,
) -> DiffResult:
    """Compare two images (PNG bytes or HxWx4 / HxWx3 ``uint8`` arrays) like pixelmatch.

    ``threshold`` (0-1) is the colour distance that counts as a change;
    ``include_aa`` counts anti-aliased pixels as changes (``antialiased`` is
    then 0); ``diff_image`` renders the highlight PNG into ``diff_png``.
    """
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    a, b = _load_both(baseline, actual)
    (ha, wa), (hb, wb) = a.shape[:2], b.shape[:2]
    height, width = max(ha, hb), max(wa, wb)
    size_changed = (ha, wa) != (hb, wb)
    inner_h, inner_w = min(ha, hb), min(wa, wb)  # the part both images cover

    def result(changed: int, antialiased: int, png: bytes | None) -> DiffResult:
        return DiffResult(
            width=width,
            height=height,
            changed=changed,
            antialiased=antialiased,
            size_changed=size_changed,
            baseline_size=(wa, ha),
            actual_size=(wb, hb),
            diff_png=png,
        )

    total = width * height
    if total == 0:
        return result(0, 0, None)
    empty = np.empty(0, dtype=np.intp)
    if not size_changed and np.array_equal(a, b):
        return result(0, 0, _render(a, empty, empty, inner_h, inner_w) if diff_image else None)
    if size_changed:
        a, b = _pad(a, height, width), _pad(b, height, width)

    a_flat, b_flat = a.reshape(-1, 4), b.reshape(-1, 4)
    a32, b32 = a_flat.view(np.uint32).reshape(-1), b_flat.view(np.uint32).reshape(-1)
    differing = np.flatnonzero(a32 != b32)
    if size_changed:  # the padding is changed by definition, not compared
        rows, cols = np.divmod(differing, width)
        differing = differing[(rows < inner_h) & (cols < inner_w)]

    max_delta = MAX_YIQ_DELTA * threshold * threshold
    over = _over_threshold(a_flat, b_flat, differing, max_delta)
    if include_aa or over.size == 0:
        red, yellow = over, empty
    else:
        dense = over.size * 8 >= total  # then whole-image maps are cheaper than gathers
        first = _Pixels(a_flat, a32, width, height, dense)
        second = _Pixels(b_flat, b32, width, height, dense)
        aa = _antialiased(first, second, over)
        rest = np.flatnonzero(~aa)
        aa[rest] = _antialiased(second, first, over[rest])
        red, yellow = over[~aa], over[aa]
    padding = total - inner_h * inner_w
    png = _render(a, red, yellow, inner_h, inner_w) if diff_image else None
    return result(int(red.size) + padding, int(yellow.size), png)


# --- inputs ---------------------------------------------------------------------------------


_PARALLEL_BYTES = 64 * 1024  # PNGs this big are decoded side by side


def _load_both(baseline: bytes | np.ndarray, actual: bytes | np.ndarray) -> tuple[RGBA, RGBA]:
    """Both images as RGBA arrays. Equal PNG bytes are decoded once; big PNGs in two
    threads (Pillow's decoder releases the GIL), as decoding is most of a compare's time."""
    if isinstance(baseline, bytes) and isinstance(actual, bytes):
        if baseline == actual:
            image = _as_rgba(baseline, "baseline")
            return image, image
        if len(baseline) + len(actual) >= _PARALLEL_BYTES:
            with ThreadPoolExecutor(max_workers=1) as pool:
                later = pool.submit(_as_rgba, actual, "actual")
                first = _as_rgba(baseline, "baseline")
                return first, later.result()
    return _as_rgba(baseline, "baseline"), _as_rgba(actual, "actual")


def _as_rgba(image: bytes | np.ndarray, name: str) -> RGBA:
    if isinstance(image, bytes | bytearray | memoryview):
        try:
            return decode_png(bytes(image))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: expected PNG bytes or a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(
            f"{name}: expected an HxWx4 (or HxWx3) uint8 array, got {image.dtype} {image.shape}"
        )
    if image.shape[2] == 3:
        alpha = np.full((*image.shape[:2], 1), 255, dtype=np.uint8)
        return np.concatenate([image, alpha], axis=2)
    return np.ascontiguousarray(image)


def _pad(image: RGBA, height: int, width: int) -> RGBA:
    """The image on a ``height`` x ``width`` canvas of transparent pixels."""
    if image.shape[:2] == (height, width):
        return image
    canvas = np.zeros((height, width, 4), dtype=np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    return canvas


# --- colour ---------------------------------------------------------------------------------


def _blended(pixels: RGBA) -> tuple[Floats, Floats, Floats]:
    """r, g, b of ``(k, 4)`` pixels blended on white, as pixelmatch's ``blend``.

    pixelmatch blends only when alpha < 255; at 255 the blend is exact
    (``255 + (c - 255) * 1.0 == c``), so it is applied to every pixel.
    """
    alpha = pixels[:, 3].astype(np.float64) / 255.0
    channels = [255.0 + (pixels[:, c].astype(np.float64) - 255.0) * alpha for c in range(3)]
    return channels[0], channels[1], channels[2]


def _rgb2y(r: Floats, g: Floats, b: Floats) -> Floats:
    return r * 0.29889531 + g * 0.58662247 + b * 0.11448223


def _rgb2i(r: Floats, g: Floats, b: Floats) -> Floats:
    return r * 0.59597799 - g * 0.27417610 - b * 0.32180189


def _rgb2q(r: Floats, g: Floats, b: Floats) -> Floats:
    return r * 0.21147017 - g * 0.52261711 + b * 0.31114694


def _over_threshold(a: RGBA, b: RGBA, candidates: Indices, max_delta: float) -> Indices:
    """The ``candidates`` whose YIQ colour delta between ``a`` and ``b`` exceeds ``max_delta``."""
    kept = []
    for start in range(0, candidates.size, _CHUNK):
        idx = candidates[start : start + _CHUNK]
        r1, g1, b1 = _blended(a[idx])
        r2, g2, b2 = _blended(b[idx])
        y = _rgb2y(r1, g1, b1) - _rgb2y(r2, g2, b2)
        i = _rgb2i(r1, g1, b1) - _rgb2i(r2, g2, b2)
        q = _rgb2q(r1, g1, b1) - _rgb2q(r2, g2, b2)
        delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q
        kept.append(idx[delta > max_delta])
    return np.concatenate(kept) if kept else candidates[:0]


# --- anti-aliasing --------------------------------------------------------------------------


def _neighbours(centres: Indices, width: int, height: int) -> tuple[Indices, Bools, Bools]:
    """For ``k`` flat pixel indices: the flat indices of their 8 neighbours ``(k, 8)`` in
    scan order, which of those lie inside the image, and which centres are on its edge.

    Outside neighbours get an index all the same (possibly wrapped to another row, or out
    of range): read them with ``np.take(..., mode="clip")`` and mask them with ``valid``.
    """
    y, x = np.divmod(centres, width)
    # which sides have a neighbour: left 1, right 2, top 4, bottom 8
    sides = (
        (x > 0).view(np.uint8)
        | ((x < width - 1).view(np.uint8) << 1)
        | ((y > 0).view(np.uint8) << 2)
        | ((y < height - 1).view(np.uint8) << 3)
    )
    index = centres[:, None] + (_DY * width + _DX)
    return index, _INSIDE[sides], sides != 15


class _Pixels:
    """One image, as pixelmatch's anti-aliasing test reads it: blended brightness and
    "has many siblings" at flat indices. ``dense``: compute both for the whole image once
    (when most pixels are asked about), else only at the pixels asked about."""

    def __init__(
        self, flat: RGBA, u32: npt.NDArray[np.uint32], width: int, height: int, dense: bool
    ) -> None:
        self.flat, self.u32, self.width, self.height = flat, u32, width, height
        self._luma: Floats | None = _rgb2y(*_blended(flat)) if dense else None
        self._many: Bools | None = self._many_map() if dense else None

    def luma(self, idx: Indices) -> Floats:
        """YIQ brightness on white at ``idx`` (clipped into the image)."""
        if self._luma is not None:
            return np.take(self._luma, idx, mode="clip")
        return _rgb2y(*_blended(np.take(self.flat, idx, axis=0, mode="clip")))

    def many_siblings(self, pos: Indices) -> Bools:
        """pixelmatch's ``hasManySiblings``: 3+ identical neighbours (an edge counts as one)."""
        if self._many is not None:
            return self._many[pos]
        index, valid, edge = _neighbours(pos, self.width, self.height)
        same = valid & (np.take(self.u32, index, mode="clip") == self.u32[pos][:, None])
        result: Bools = (edge + np.count_nonzero(same, axis=1)) > 2
        return result

    def _many_map(self) -> Bools:
        """``many_siblings`` for every pixel, by comparing shifted views of the image."""
        h, w = self.height, self.width
        img = self.u32.reshape(h, w)
        count = np.zeros((h, w), dtype=np.uint8)
        for dx, dy in zip(_DX.tolist(), _DY.tolist(), strict=True):
            rows = slice(max(0, -dy), h - max(0, dy))
            cols = slice(max(0, -dx), w - max(0, dx))
            near = img[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
            count[rows, cols] += img[rows, cols] == near
        count[[0, -1], :] += 1
        count[1:-1, [0, -1]] += 1  # every edge pixel once, corners included
        result: Bools = (count > 2).reshape(-1)
        return result


def _antialiased(image: _Pixels, other: _Pixels, centres: Indices) -> Bools:
    """pixelmatch's ``antialiased(image, x, y, ..., other)`` for each of ``centres``."""
    out = np.zeros(centres.size, dtype=np.bool_)
    for start in range(0, centres.size, _CHUNK // 8):
        chunk = centres[start : start + _CHUNK // 8]
        index, valid, edge = _neighbours(chunk, image.width, image.height)
        delta = image.luma(chunk)[:, None] - image.luma(index.reshape(-1)).reshape(index.shape)
        zeroes = edge + np.count_nonzero(valid & (delta == 0), axis=1)
        # darkest / brightest neighbour: the first one at the extreme, as the strict
        # comparisons of pixelmatch's scan keep the first; zero deltas never qualify.
        darker = np.where(valid, delta, np.inf)
        brighter = np.where(valid, delta, -np.inf)
        dark_at = darker.argmin(axis=1)
        bright_at = brighter.argmax(axis=1)
        rows = np.arange(chunk.size)
        possible = (zeroes <= 2) & (darker[rows, dark_at] < 0) & (brighter[rows, bright_at] > 0)
        sel = np.flatnonzero(possible)
        if sel.size == 0:
            continue
        dark = index[sel, dark_at[sel]]
        bright = index[sel, bright_at[sel]]
        flat_dark = image.many_siblings(dark) & other.many_siblings(dark)
        flat_bright = image.many_siblings(bright) & other.many_siblings(bright)
        out[start + sel] = flat_dark | flat_bright
    return out


# --- diff image -----------------------------------------------------------------------------


def _render(base: RGBA, red: Indices, yellow: Indices, inner_h: int, inner_w: int) -> bytes:
    """The highlight image as PNG: faded grey baseline, red changes, yellow anti-aliasing,
    red wherever only one of the images has pixels."""
    height, width = base.shape[:2]
    grey = _faded(base)
    flat = grey.reshape(-1)
    flat[red] = _RED
    flat[yellow] = _YELLOW
    grey[inner_h:, :] = _RED
    grey[:, inner_w:] = _RED
    image = Image.frombuffer("P", (width, height), grey, "raw", "P", 0, 1)
    image.putpalette(_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def _faded(base: RGBA) -> npt.NDArray[np.uint8]:
    """pixelmatch's ``drawGrayPixel``: luma blended on white at alpha 0.1 (times the pixel's
    own alpha), truncated; a new writable ``(h, w)`` array of values 229-255."""
    luma = Image.fromarray(base).convert("L")
    alpha = base[:, :, 3]
    if alpha.min() == 255:
        return np.array(luma.point(_FADE_LUT), dtype=np.uint8)
    # 255 - ceil((255 - L) * a * 0.1 / 255), in integers
    dark = (255 - np.asarray(luma, dtype=np.uint32)) * alpha
    return (255 - (dark + 2549) // 2550).astype(np.uint8)
