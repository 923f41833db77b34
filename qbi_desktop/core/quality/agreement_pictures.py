"""Pictures of an agreement report (numpy and Pillow only, like the baseline report):
the confusion matrix between two annotators and the Bland–Altman plot of a target."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from qbi_desktop.core.report import (
    _font,
    _rotated_text,
    _text_size,
    confusion_matrix_image,
    plot_fraction,
    plot_range,
    plot_ticks,
)

_INK = (33, 37, 41)
_GRID = (222, 226, 230)
_POINT = (37, 115, 183)
_BIAS = (215, 55, 45)
_LIMIT = (249, 140, 110)


def pair_confusion_image(cm: np.ndarray, labels: list[str], a: str, b: str) -> Image.Image:
    agree = np.trace(cm) / cm.sum() if cm.sum() else float("nan")
    return confusion_matrix_image(
        cm,
        labels,
        title=f"Class labels: {a} against {b}",
        subtitle=f"{int(cm.sum())} items both labelled, {agree:.1%} the same",
        rows=a,
        columns=b,
        note=f"each cell: number of items and their share of {a}'s class (row %)",
    )


def bland_altman_image(
    mean: np.ndarray, difference: np.ndarray, *, title: str = "", size: int = 560
) -> Image.Image:
    """Difference (a - b) against the mean of a and b, with the bias line and the 95 % limits
    of agreement (bias ± 1.96 SD)."""
    mean, difference = np.asarray(mean, float), np.asarray(difference, float)
    pad, left, bottom, right = 24, 76, 56, 250
    f_title, f_tick, f_axis = _font(17, bold=True), _font(12), _font(14, bold=True)
    top = pad + (28 if title else 0)
    width, height = left + size + right, top + size + bottom
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((pad, pad), title, font=f_title, fill=_INK)
    # a pair whose mean or difference is not a finite number cannot be placed (values near
    # ±1e308 overflow a - b); the statistics and the points are those of the others
    finite = np.isfinite(mean) & np.isfinite(difference)
    mean, difference = mean[finite], difference[finite]
    bias = float(difference.mean()) if difference.size else 0.0
    sd = float(difference.std(ddof=1)) if difference.size > 1 else 0.0
    lines = [("bias", bias, _BIAS), ("+1.96 SD", bias + 1.96 * sd, _LIMIT)]
    lines.append(("-1.96 SD", bias - 1.96 * sd, _LIMIT))
    lines = [line for line in lines if np.isfinite(line[1])]
    x_lo, x_hi = plot_range(mean, 0.06)
    y_lo, y_hi = plot_range(np.concatenate([difference, [v for _, v, _ in lines], [0.0]]), 0.06)

    def px(x: float) -> float:
        return left + float(plot_fraction(x, x_lo, x_hi)) * size

    def py(y: float) -> float:
        return top + size - float(plot_fraction(y, y_lo, y_hi)) * size

    draw.rectangle([left, top, left + size, top + size], outline=(134, 142, 150))
    for t in plot_ticks(x_lo, x_hi, 5)[1:-1]:
        draw.line([px(t), top, px(t), top + size], fill=_GRID)
        label = f"{t:.3g}"
        tw, _ = _text_size(draw, label, f_tick)
        draw.text((px(t) - tw / 2, top + size + 6), label, font=f_tick, fill=_INK)
    for t in plot_ticks(y_lo, y_hi, 5)[1:-1]:
        draw.line([left, py(t), left + size, py(t)], fill=_GRID)
        label = f"{t:.3g}"
        tw, th = _text_size(draw, label, f_tick)
        draw.text((left - 8 - tw, py(t) - th / 2), label, font=f_tick, fill=_INK)
    draw.line([left, py(0), left + size, py(0)], fill=(173, 181, 189), width=1)
    # the three lines (nearly) coincide
    if len(lines) == 3 and abs(py(lines[1][1]) - py(lines[2][1])) < 36:
        lines = [(f"bias (limits {lines[2][1]:.3g} .. {lines[1][1]:.3g})", bias, _BIAS)]
    for name, value, colour in lines:
        y = py(value)
        draw.line([left, y, left + size, y], fill=colour, width=2)
        draw.text((left + size + 8, y - 8), f"{name} {value:.3g}", font=f_tick, fill=colour)
    r = 3 if mean.size < 2000 else 2
    for x, y in zip(mean, difference, strict=True):
        draw.ellipse([px(x) - r, py(y) - r, px(x) + r, py(y) + r], fill=_POINT)
    axis = "mean of the two"
    aw, _ = _text_size(draw, axis, f_axis)
    draw.text((left + (size - aw) / 2, top + size + 28), axis, font=f_axis, fill=_INK)
    tile = _rotated_text("difference", f_axis, _INK)
    img.paste(tile, (4, int(top + (size - tile.height) / 2)), tile)
    return img
