"""matf.pixeldiff against a plain-Python port of pixelmatch, and its behaviour on its own."""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from matf import pixeldiff
from matf.pixeldiff import DiffResult, compare, decode_png

SIZE = 48

# --- a line-by-line port of pixelmatch 5 (mapbox/pixelmatch index.js) ------------------------

Pixels = list[tuple[int, int, int, int]]


def _blend(c: float, a: float) -> float:
    return 255 + (c - 255) * a


def _y(r: float, g: float, b: float) -> float:
    return r * 0.29889531 + g * 0.58662247 + b * 0.11448223


def _i(r: float, g: float, b: float) -> float:
    return r * 0.59597799 - g * 0.27417610 - b * 0.32180189


def _q(r: float, g: float, b: float) -> float:
    return r * 0.21147017 - g * 0.52261711 + b * 0.31114694


def ref_color_delta(p1: tuple[int, ...], p2: tuple[int, ...], y_only: bool = False) -> float:
    r1, g1, b1, a1 = (float(v) for v in p1)
    r2, g2, b2, a2 = (float(v) for v in p2)
    if p1 == p2:
        return 0
    if a1 < 255:
        a1 /= 255
        r1, g1, b1 = _blend(r1, a1), _blend(g1, a1), _blend(b1, a1)
    if a2 < 255:
        a2 /= 255
        r2, g2, b2 = _blend(r2, a2), _blend(g2, a2), _blend(b2, a2)
    y = _y(r1, g1, b1) - _y(r2, g2, b2)
    if y_only:
        return y
    i = _i(r1, g1, b1) - _i(r2, g2, b2)
    q = _q(r1, g1, b1) - _q(r2, g2, b2)
    return 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q


def ref_many_siblings(img: Pixels, x1: int, y1: int, width: int, height: int) -> bool:
    x0, y0 = max(x1 - 1, 0), max(y1 - 1, 0)
    x2, y2 = min(x1 + 1, width - 1), min(y1 + 1, height - 1)
    val = img[y1 * width + x1]
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    for x in range(x0, x2 + 1):
        for y in range(y0, y2 + 1):
            if x == x1 and y == y1:
                continue
            zeroes += val == img[y * width + x]
            if zeroes > 2:
                return True
    return False


def ref_antialiased(img: Pixels, x1: int, y1: int, width: int, height: int, img2: Pixels) -> bool:
    x0, y0 = max(x1 - 1, 0), max(y1 - 1, 0)
    x2, y2 = min(x1 + 1, width - 1), min(y1 + 1, height - 1)
    centre = img[y1 * width + x1]
    zeroes = 1 if x1 in (x0, x2) or y1 in (y0, y2) else 0
    low = high = 0.0
    min_x = min_y = max_x = max_y = 0
    for x in range(x0, x2 + 1):  # x outer, y inner, as pixelmatch
        for y in range(y0, y2 + 1):
            if x == x1 and y == y1:
                continue
            delta = ref_color_delta(centre, img[y * width + x], True)
            if delta == 0:
                zeroes += 1
                if zeroes > 2:
                    return False
            elif delta < low:
                low, min_x, min_y = delta, x, y
            elif delta > high:
                high, max_x, max_y = delta, x, y
    if low == 0 or high == 0:
        return False
    return (
        ref_many_siblings(img, min_x, min_y, width, height)
        and ref_many_siblings(img2, min_x, min_y, width, height)
    ) or (
        ref_many_siblings(img, max_x, max_y, width, height)
        and ref_many_siblings(img2, max_x, max_y, width, height)
    )


def ref_pixelmatch(
    a: np.ndarray, b: np.ndarray, threshold: float = 0.1, include_aa: bool = False
) -> tuple[int, int, set[int], set[int]]:
    """(changed, antialiased, red pixel indices, yellow pixel indices), pixel by pixel."""
    height, width = a.shape[:2]
    img1: Pixels = [tuple(int(v) for v in p) for p in a.reshape(-1, 4)]  # type: ignore[misc]
    img2: Pixels = [tuple(int(v) for v in p) for p in b.reshape(-1, 4)]  # type: ignore[misc]
    max_delta = 35215 * threshold * threshold
    red: set[int] = set()
    yellow: set[int] = set()
    for y in range(height):
        for x in range(width):
            i = y * width + x
            if ref_color_delta(img1[i], img2[i]) > max_delta:
                if not include_aa and (
                    ref_antialiased(img1, x, y, width, height, img2)
                    or ref_antialiased(img2, x, y, width, height, img1)
                ):
                    yellow.add(i)
                else:
                    red.add(i)
    return len(red), len(yellow), red, yellow


def ref_grey(a: np.ndarray) -> np.ndarray:
    """pixelmatch's drawGrayPixel for every pixel (truncated into a byte, as a Buffer does)."""
    out = np.empty(a.shape[:2], dtype=np.int64)
    for (y, x), _ in np.ndenumerate(out):
        r, g, b, alpha = (int(v) for v in a[y, x])
        out[y, x] = int(_blend(_y(r, g, b), 0.1 * alpha / 255))
    return out


# --- images -------------------------------------------------------------------------------


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def rgba(image: Image.Image) -> np.ndarray:
    return np.array(image.convert("RGBA"), dtype=np.uint8)


def supersampled(draw: object, shift: tuple[int, int] = (0, 0), scale: int = 4) -> np.ndarray:
    """Shapes drawn at ``scale``x and box-filtered down: anti-aliased edges; ``shift`` is in
    supersampled pixels, so (1, 0) moves everything a quarter of a pixel right."""
    big = Image.new("RGBA", (SIZE * scale, SIZE * scale), (255, 255, 255, 255))
    pen = ImageDraw.Draw(big)
    draw(pen, shift, scale)  # type: ignore[operator]
    return rgba(big.resize((SIZE, SIZE), Image.Resampling.BOX))


def ellipses(pen: ImageDraw.ImageDraw, shift: tuple[int, int], scale: int) -> None:
    dx, dy = shift
    pen.ellipse([8 * scale + dx, 6 * scale + dy, 30 * scale + dx, 26 * scale + dy], fill="black")
    pen.ellipse(
        [22 * scale + dx, 20 * scale + dy, 44 * scale + dx, 42 * scale + dy], fill="#3366cc"
    )
    pen.line([(2 * scale, 40 * scale + dy), (46 * scale, 30 * scale + dy)], fill="red", width=scale)


def text_image(offset: float, colour: str = "black") -> np.ndarray:
    image = Image.new("RGBA", (SIZE, SIZE), (255, 255, 255, 255))
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    pen.text((2 + offset, 4), "Ag Wq", fill=colour, font=font)
    pen.text((3, 20 + offset), "0.5 px", fill=colour, font=font)
    pen.rectangle([30, 34, 44, 44], fill="#dde")
    return rgba(image)


def blocks(rng: np.random.Generator) -> np.ndarray:
    """Flat rectangles in a few colours: the many-siblings case."""
    colours = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    colours[:, 3] = 255
    image = np.empty((SIZE, SIZE, 4), dtype=np.uint8)
    image[:] = colours[0]
    for _ in range(8):
        y, x = rng.integers(0, SIZE - 4, 2)
        h, w = rng.integers(2, 16, 2)
        image[y : y + h, x : x + w] = colours[rng.integers(0, 5)]
    return image


def pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20240611)
    out = []
    noise = rng.integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    noise[..., 3] = 255
    touched = noise.copy()
    mask = rng.random((SIZE, SIZE)) < 0.15
    touched[mask, :3] = np.clip(
        touched[mask, :3].astype(int) + rng.integers(-40, 41, (int(mask.sum()), 3)), 0, 255
    ).astype(np.uint8)
    out.append(("noise", noise, touched))
    translucent = rng.integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)
    other = translucent.copy()
    other[rng.random((SIZE, SIZE)) < 0.2] = rng.integers(0, 256, 4, dtype=np.uint8)
    out.append(("alpha noise", translucent, other))
    for n in range(3):
        base = blocks(rng)
        changed = base.copy()
        y, x = rng.integers(0, SIZE - 8, 2)
        changed[y : y + 6, x : x + 6] = rng.integers(0, 256, 4, dtype=np.uint8)
        changed[rng.random((SIZE, SIZE)) < 0.02, :3] ^= 0x20
        out.append((f"blocks {n}", base, changed))
    for shift in [(1, 0), (2, 1), (0, 3), (5, 5)]:
        out.append((f"ellipses {shift}", supersampled(ellipses), supersampled(ellipses, shift)))
    out.append(("text 0.5px", text_image(0), text_image(0.5)))
    out.append(("text 1px", text_image(0), text_image(1)))
    out.append(("text colour", text_image(0), text_image(0, "#202020")))
    return out


PAIRS = pairs()
_BY_NAME = {name: (a, b) for name, a, b in PAIRS}


@functools.cache
def reference(
    name: str, threshold: float, include_aa: bool = False
) -> tuple[int, int, set[int], set[int]]:
    """ref_pixelmatch on a pair of PAIRS, computed once per session."""
    a, b = _BY_NAME[name]
    return ref_pixelmatch(a, b, threshold, include_aa)


# --- the reference comparison -------------------------------------------------------------


@pytest.mark.parametrize(("name", "a", "b"), PAIRS, ids=[name for name, _, _ in PAIRS])
@pytest.mark.parametrize(("threshold", "include_aa"), [(0.1, False), (0.0, False), (0.05, True)])
def test_matches_reference_pixelmatch(
    name: str, a: np.ndarray, b: np.ndarray, threshold: float, include_aa: bool
) -> None:
    changed, antialiased, red, yellow = reference(name, threshold, include_aa)
    result = compare(a, b, threshold=threshold, include_aa=include_aa)
    assert (result.changed, result.antialiased) == (changed, antialiased)
    assert result.diff_png is not None
    diff = decode_png(result.diff_png)
    flat = diff.reshape(-1, 4)
    is_red = np.all(flat == (255, 0, 0, 255), axis=1)
    is_yellow = np.all(flat == (255, 255, 0, 255), axis=1)
    assert set(np.flatnonzero(is_red).tolist()) == red
    assert set(np.flatnonzero(is_yellow).tolist()) == yellow
    plain = ~(is_red | is_yellow)
    grey = ref_grey(a).reshape(-1)
    assert np.all(flat[plain, 0] == flat[plain, 1]) and np.all(flat[plain, 1] == flat[plain, 2])
    assert np.abs(flat[plain, 0].astype(int) - grey[plain]).max(initial=0) <= 1


@pytest.mark.parametrize("dense", [True, False])
def test_whole_image_maps_and_gathers_agree(dense: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """compare() reads brightness and siblings per pixel, or from whole-image maps when most
    pixels differ; force each way on every pair, against the reference."""
    original = pixeldiff._Pixels.__init__

    def forced(
        self: pixeldiff._Pixels,
        flat: np.ndarray,
        u32: np.ndarray,
        width: int,
        height: int,
        _dense: bool,
    ) -> None:
        original(self, flat, u32, width, height, dense)

    monkeypatch.setattr(pixeldiff._Pixels, "__init__", forced)
    for name, a, b in PAIRS:
        changed, antialiased, _, _ = reference(name, 0.0, False)
        result = compare(a, b, threshold=0.0, diff_image=False)
        assert (result.changed, result.antialiased) == (changed, antialiased)


def test_reference_images_exercise_antialiasing() -> None:
    """The drawn pairs are not trivial: some pixels are anti-aliasing, some real changes."""
    found = {name: reference(name, 0.1, False)[:2] for name, _, _ in PAIRS}
    assert all(aa > 0 for name, (_, aa) in found.items() if name.startswith(("ellipses", "text")))
    assert all(changed > 0 for name, (changed, _) in found.items() if "blocks" in name)


def test_subpixel_shift_is_antialiasing() -> None:
    base = supersampled(ellipses)
    shifted = supersampled(ellipses, (2, 0))  # half a pixel
    strict = compare(base, shifted, threshold=0.0)
    assert strict.antialiased > 0
    assert strict.antialiased > strict.changed
    counted = compare(base, shifted, threshold=0.0, include_aa=True)
    assert counted.antialiased == 0
    assert counted.changed == strict.changed + strict.antialiased


# --- behaviour ----------------------------------------------------------------------------


def flat_image(colour: tuple[int, int, int, int], width: int = 20, height: int = 16) -> np.ndarray:
    image = np.empty((height, width, 4), dtype=np.uint8)
    image[:] = colour
    return image


def test_identical_images_have_no_diff() -> None:
    image = text_image(0)
    result = compare(png(image), png(image.copy()))
    assert result == DiffResult(
        width=SIZE,
        height=SIZE,
        changed=0,
        antialiased=0,
        size_changed=False,
        baseline_size=(SIZE, SIZE),
        actual_size=(SIZE, SIZE),
        diff_png=result.diff_png,
    )
    assert result.ratio == 0.0
    assert result.diff_png is not None
    diff = decode_png(result.diff_png)
    assert diff.shape == (SIZE, SIZE, 4)
    assert not np.any(np.all(diff == (255, 0, 0, 255), axis=2))
    assert diff[..., :3].min() >= 229  # faded to a light grey
    assert compare(image, image, diff_image=False).diff_png is None


def test_one_changed_pixel() -> None:
    base = flat_image((255, 255, 255, 255))
    actual = base.copy()
    actual[5, 7] = (200, 30, 30, 255)
    result = compare(png(base), png(actual))
    assert (result.changed, result.antialiased, result.size_changed) == (1, 0, False)
    assert result.ratio == pytest.approx(1 / (20 * 16))
    assert result.diff_png is not None
    diff = decode_png(result.diff_png)
    red = np.argwhere(np.all(diff == (255, 0, 0, 255), axis=2))
    assert red.tolist() == [[5, 7]]
    assert tuple(diff[0, 0]) == (255, 255, 255, 255)  # white stays white when faded


def test_changed_pixels_are_red_in_diff_image() -> None:
    base = flat_image((40, 120, 200, 255), 32, 32)
    actual = base.copy()
    actual[10:14, 3:20] = (250, 250, 250, 255)
    result = compare(base, actual)
    assert result.changed == 4 * 17
    assert result.diff_png is not None
    assert result.diff_png.startswith(b"\x89PNG\r\n\x1a\n")
    diff = decode_png(result.diff_png)
    red = np.all(diff == (255, 0, 0, 255), axis=2)
    assert red.sum() == result.changed
    assert red[10:14, 3:20].all()
    rest = diff[~red]
    assert np.all(rest[:, 0] == rest[:, 1]) and np.all(rest[:, 3] == 255)


def test_threshold_decides_small_colour_changes() -> None:
    base = flat_image((128, 128, 128, 255))
    actual = base.copy()
    actual[8, 8] = (138, 138, 138, 255)  # YIQ delta about 50.5, i.e. threshold ~0.038
    assert compare(base, actual, threshold=0.05).changed == 0
    assert compare(base, actual, threshold=0.03).changed == 1
    assert compare(base, actual, threshold=0.0).changed == 1
    assert compare(base, actual, threshold=1.0).changed == 0
    black, white = flat_image((0, 0, 0, 255)), flat_image((255, 255, 255, 255))
    # black on white: delta 0.5053 * 255**2 = 32857, i.e. threshold ~0.966
    assert compare(black, white, threshold=0.95).changed == 20 * 16
    assert compare(black, white, threshold=0.97).changed == 0


@pytest.mark.parametrize("threshold", [-0.1, 1.01, float("nan")])
def test_threshold_is_validated(threshold: float) -> None:
    image = flat_image((0, 0, 0, 255))
    with pytest.raises(ValueError, match="threshold"):
        compare(image, image, threshold=threshold)


def test_size_change_counts_the_padding() -> None:
    base = flat_image((255, 255, 255, 255), width=10, height=10)
    actual = flat_image((255, 255, 255, 255), width=12, height=8)
    actual[2, 2] = (0, 0, 0, 255)
    result = compare(png(base), png(actual))
    assert result.size_changed
    assert (result.width, result.height) == (12, 10)
    assert result.baseline_size == (10, 10) and result.actual_size == (12, 8)
    assert result.changed == 12 * 10 - 10 * 8 + 1
    assert result.ratio == pytest.approx(41 / 120)
    assert result.diff_png is not None
    diff = decode_png(result.diff_png)
    red = np.all(diff == (255, 0, 0, 255), axis=2)
    assert red[8:, :].all() and red[:, 10:].all() and red[2, 2]
    assert red.sum() == result.changed
    # padding is transparent, which blends to white, yet it still counts on a white page
    same_colour = compare(base, flat_image((255, 255, 255, 255), width=10, height=11))
    assert same_colour.changed == 10 and same_colour.size_changed


def test_alpha_is_blended_on_white() -> None:
    # fully transparent pixels look the same (white) whatever their colour
    clear_red, clear_blue = flat_image((255, 0, 0, 0)), flat_image((0, 0, 255, 0))
    assert compare(clear_red, clear_blue, threshold=0.0).changed == 0
    assert compare(clear_red, flat_image((255, 255, 255, 255))).changed == 0
    # half-transparent black is mid grey on white
    half_black = flat_image((0, 0, 0, 128))
    assert compare(half_black, flat_image((127, 127, 127, 255))).changed == 0
    assert compare(half_black, flat_image((0, 0, 0, 255))).changed == 20 * 16
    # alpha alone is a change
    assert compare(flat_image((0, 0, 0, 255)), flat_image((0, 0, 0, 0))).changed == 20 * 16
    # the faded grey of a transparent baseline is white
    result = compare(flat_image((0, 0, 0, 0)), flat_image((0, 0, 0, 0)))
    assert result.diff_png is not None
    assert np.all(decode_png(result.diff_png) == 255)


def test_rgb_arrays_are_opaque() -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    assert compare(rgb, flat_image((0, 0, 0, 255), 5, 4)).changed == 0


def test_bad_input_is_a_one_line_value_error() -> None:
    good = png(flat_image((0, 0, 0, 255)))
    for data in [b"", b"not a png at all", good[:40], good[:8] + b"\x00" * 64]:
        with pytest.raises(ValueError) as info:
            compare(data, good)
        assert "\n" not in str(info.value)
    jpeg = io.BytesIO()
    Image.new("RGB", (4, 4)).save(jpeg, format="JPEG")
    with pytest.raises(ValueError, match="PNG"):
        decode_png(jpeg.getvalue())
    with pytest.raises(ValueError, match="uint8"):
        compare(np.zeros((4, 4, 4), dtype=np.float32), np.zeros((4, 4, 4), dtype=np.uint8))


def test_decode_png_modes() -> None:
    grey = io.BytesIO()
    Image.new("L", (3, 2), 77).save(grey, format="PNG")
    decoded = decode_png(grey.getvalue())
    assert decoded.shape == (2, 3, 4) and decoded.dtype == np.uint8
    assert tuple(decoded[1, 2]) == (77, 77, 77, 255)


def test_empty_canvas() -> None:
    empty = np.zeros((0, 0, 4), dtype=np.uint8)
    result = compare(empty, empty)
    assert (result.changed, result.ratio, result.diff_png) == (0, 0.0, None)


def test_big_pngs_decode_side_by_side() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (160, 160, 4), dtype=np.uint8)
    actual = base.copy()
    actual[40:60, 10:90] = (0, 0, 0, 255)
    base_png, actual_png = png(base), png(actual)
    assert len(base_png) + len(actual_png) > 64 * 1024  # big enough for two threads
    from_png = compare(base_png, actual_png)
    from_arrays = compare(base, actual)
    assert (from_png.changed, from_png.antialiased) == (
        from_arrays.changed,
        from_arrays.antialiased,
    )
    assert from_png.diff_png == from_arrays.diff_png
    with pytest.raises(ValueError, match=r"^actual: cannot decode PNG"):
        compare(base_png, actual_png[: len(actual_png) // 2])
    with pytest.raises(ValueError, match=r"^baseline: cannot decode PNG"):
        compare(base_png[: len(base_png) // 2], actual_png)
