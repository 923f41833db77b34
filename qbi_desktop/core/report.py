"""A baseline run's report folder: metrics, parameters to reproduce it, and pictures.

``write_report(result, folder)`` writes, each file atomically:

- ``metrics.json``: :meth:`BaselineResult.to_metrics_dict` (accuracy, balanced accuracy,
  majority-class rate, confusion matrix as rows, labels, n_train, n_test, train scores, ...);
- ``metrics.csv``: per class (precision, recall, F1, support) for classification, per image for
  segmentation, per item (true, predicted) for regression;
- ``misclassified.csv``: dataset index, true and predicted class of every wrong test item;
- ``params.json``: source, model, every parameter, seed, library versions and the command line
  that reproduces the run;
- ``confusion_matrix.png`` (classification) or ``predicted_vs_true.png`` (regression), drawn
  with numpy and Pillow only (no Qt, no matplotlib) so reports can be written headless.

Models are never saved: a pickle is code, and the parameters reproduce the model exactly.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import platform
import shlex
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qbi_desktop.core.baselines import BaselineConfig, BaselineResult
from qbi_desktop.core.outfolder import StagedFolder

#: the files a report folder holds (one of the pictures, by task)
REPORT_FILES = (
    "metrics.json",
    "metrics.csv",
    "misclassified.csv",
    "params.json",
    "confusion_matrix.png",
    "predicted_vs_true.png",
)


def _own_report(path: Path) -> bool:
    """Whether ``path`` belongs to an earlier baseline report: its params.json is one."""
    from qbi_desktop.core.outfolder import json_says

    return json_says(
        path.parent / "params.json",
        lambda d: (
            str(d.get("command", "")).startswith("qbi-desktop baseline")
            and "qbi_desktop" in d.get("versions", {})
        ),
    )


def check_report_folder(folder: str | Path) -> Path:
    """``folder`` as a report folder: refused (before the run, by the command) when it is not
    a folder, or holds files of those a report writes that an earlier report did not write
    (someone's metrics.json); an earlier report there is replaced."""
    from qbi_desktop.core import outfolder

    folder = outfolder.check_out_folder(folder, "--report")
    outfolder.refuse_replacing(folder, REPORT_FILES, own=_own_report, command="baseline")
    return folder


def write_report(result: BaselineResult, folder: str | Path) -> Path:
    """Write the report folder for one run (created if needed); returns the folder. A folder
    holding other files of a report's names is refused (:func:`check_report_folder`)."""
    folder = check_report_folder(folder)
    # every picture is drawn before anything is written, and the files appear together: a
    # failure leaves no half report (metrics without their picture) beside an earlier one
    staged = StagedFolder(folder, "--report")
    with staged.guarded(drop=REPORT_FILES):
        metrics = result.to_metrics_dict()
        staged.write_text("metrics.json", json.dumps(metrics, indent=2) + "\n")
        staged.write_text("metrics.csv", _metrics_csv(result))
        if result.task == "classification":
            staged.write_text("misclassified.csv", _misclassified_csv(result))
        staged.write_text("params.json", json.dumps(run_params(result), indent=2) + "\n")
        if result.task == "classification" and result.confusion is not None:
            image = confusion_matrix_image(
                result.confusion, result.labels, title=_title(result), subtitle=_subtitle(result)
            )
            staged.write_bytes("confusion_matrix.png", _png(image))
        elif result.task == "regression":
            image = scatter_image(result.y_true, result.y_pred, title=_title(result))
            staged.write_bytes("predicted_vs_true.png", _png(image))
    return folder


def run_params(result: BaselineResult) -> dict[str, Any]:
    """Everything needed to reproduce a run (``params.json``)."""
    c = result.config
    return {
        "source": result.source,
        "task": result.task,
        "model": c.model,
        "description": c.describe(),
        "seed": c.seed,
        "evaluation": result.evaluation,
        "parameters": c.to_dict(),
        "resolved": result.resolved,
        "command": reproduce_command(c, result.source),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    import PIL
    import scipy
    import sklearn

    import qbi_desktop

    return {
        "qbi_desktop": getattr(qbi_desktop, "__version__", "unknown"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "pillow": PIL.__version__,
        "platform": platform.platform(),
    }


def reproduce_command(config: BaselineConfig, source: str) -> str:
    """The ``qbi-desktop baseline`` command line that repeats this run (where the CLI can)."""
    default = BaselineConfig()
    args = ["qbi-desktop", "baseline", "--data", source or "SOURCE", "--model", config.model]
    flags = {
        "k": "--k",
        "metric": "--metric",
        "weights": "--weights",
        "strategy": "--strategy",
        "C": "--C",
        "max_iter": "--max-iter",
        "downsample": "--downsample",
        "split": "--split",
        "test_fraction": "--test-fraction",
        "folds": "--folds",
        "seed": "--seed",
        "eval": "--eval",
        "train_size": "--train-size",
        "test_size": "--test-size",
        "test_on": "--test-on",
        "target": "--target",
        "task": "--task",
        "train_score_max": "--train-score-max",
    }
    for name, flag in flags.items():
        value = getattr(config, name)
        # k always, for kNN: the command must not depend on a default (it changed from 1 to 3)
        always = name == "k" and config.model == "knn"
        if (always or value != getattr(default, name)) and value is not None:
            args += [flag, str(value)]
    if config.standardize is not None:
        args.append("--standardize" if config.standardize else "--no-standardize")
    if config.resize_to is not None:
        args += ["--resize", f"{config.resize_to[0]}x{config.resize_to[1]}"]
    if config.drop_unlabeled:
        args.append("--drop-unlabeled")
    if config.unseen_classes == "warn":
        args.append("--allow-unseen-classes")
    if isinstance(config.scheduler, str):
        args += ["--scheduler", config.scheduler]
    return shlex.join(args) + " --report DIR"


def _title(result: BaselineResult) -> str:
    return f"{result.config.describe()}  ·  {result.source}"


def _subtitle(result: BaselineResult) -> str:
    s = result.scores
    text = (
        f"accuracy {_pct(s.get('accuracy'))}   balanced {_pct(s.get('balanced_accuracy'))}   "
        f"majority class {_pct(s.get('majority_rate'))}   "
        f"{result.n_train} train / {result.n_test} test"
    )
    if result.config.eval == "train":
        text += "   EVALUATED ON TRAINING DATA"
    return text


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f} %"


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _metrics_csv(result: BaselineResult) -> str:
    if result.task == "classification":
        rows: list[list[Any]] = [["class", "precision", "recall", "f1", "support"]]
        for r in result.per_class:
            rows.append(
                [
                    r["class"],
                    f"{r['precision']:.6f}",
                    f"{r['recall']:.6f}",
                    f"{r['f1']:.6f}",
                    r["support"],
                ]
            )
        return _csv(rows)
    if result.task == "regression":
        rows = [["index", "true", "predicted"]]
        rows += [
            [int(i), repr(float(t)), repr(float(p))]
            for i, t, p in zip(result.test_indices, result.y_true, result.y_pred, strict=True)
        ]
        return _csv(rows)
    keys = ["index", "dice", "iou", "objects_true", "objects_pred", "objects_matched"]
    return _csv([keys] + [[r[k] for k in keys] for r in result.per_item])


def _misclassified_csv(result: BaselineResult) -> str:
    rows: list[list[Any]] = [["index", "true", "predicted"]]
    rows += [[m["index"], m["true"], m["pred"]] for m in result.misclassified]
    return _csv(rows)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# -- drawing ------------------------------------------------------------------------------------

# Two sequential ramps (light -> dark): blue for correct predictions (the diagonal), red for
# confusions, so that a 1 % confusion stands out from a 0 % cell without hiding the diagonal.
_BLUES = np.array(
    [[247, 251, 255], [200, 221, 240], [115, 172, 214], [37, 115, 183], [8, 52, 110]], float
)
_REDS = np.array(
    [[255, 247, 243], [252, 205, 185], [249, 140, 110], [215, 55, 45], [130, 10, 20]], float
)
_INK = (33, 37, 41)
_GRID = (222, 226, 230)


def _ramp(anchors: np.ndarray, t: float) -> tuple[int, int, int]:
    t = float(np.clip(t, 0.0, 1.0)) * (len(anchors) - 1)
    i = min(int(t), len(anchors) - 2)
    rgb = anchors[i] + (anchors[i + 1] - anchors[i]) * (t - i)
    return tuple(int(round(v)) for v in rgb)  # type: ignore[return-value]


def _font(size: int, bold: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow >= 10.1 ships a scalable default font; fall back to the bitmap one otherwise.
    for name in (("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"),):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


def _luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = (c / 255 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rotated_text(text: str, font: Any, fill: tuple[int, int, int]) -> Image.Image:
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    tile = Image.new("RGBA", (right - left + 2, bottom - top + 2), (255, 255, 255, 0))
    ImageDraw.Draw(tile).text((1 - left, 1 - top), text, font=font, fill=fill)
    return tile.rotate(90, expand=True)


def confusion_matrix_image(
    cm: np.ndarray,
    labels: list[str],
    *,
    title: str = "",
    subtitle: str = "",
    rows: str = "true class",
    columns: str = "predicted class",
    note: str = "each cell: number of test items and their share of the true class (row %)",
) -> Image.Image:
    """Render a confusion matrix: rows = true class, columns = predicted class.

    Each cell shows its count and the row-normalised percentage (the share of that true class);
    the diagonal is shaded blue, confusions red (square-root scale, so rare confusions show),
    and the row totals (support) stand at the right.
    """
    cm = np.asarray(cm, dtype=np.int64)
    n = len(labels)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix {cm.shape} does not match {n} labels")
    cell = int(np.clip(640 // max(n, 1), 14, 76))
    annotate = cell >= 34
    f_count = _font(max(9, int(cell * 0.27)), bold=True)
    f_pct = _font(max(8, int(cell * 0.2)))
    f_label = _font(int(np.clip(cell * 0.3, 10, 17)))
    f_axis = _font(17, bold=True)
    f_title = _font(19, bold=True)
    f_sub = _font(14)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    label_w = max((_text_size(probe, s, f_label)[0] for s in labels), default=0)
    label_h = _text_size(probe, "Hg", f_label)[1]
    vertical_cols = label_w > cell - 6
    col_label_h = label_w if vertical_cols else label_h
    support_w = _text_size(probe, f"n={int(cm.sum(axis=1).max(initial=0))}", f_label)[0]

    pad = 24
    axis_w = _text_size(probe, rows, f_axis)[1] + 14
    grid_x = pad + axis_w + label_w + 10
    title_h = (30 if title else 0) + (24 if subtitle else 0)
    grid_y = pad + title_h + 16
    grid = n * cell
    legend_h = 70
    width = max(
        grid_x + grid + 14 + support_w + pad,
        2 * pad + _text_size(probe, title, f_title)[0],
        2 * pad + _text_size(probe, subtitle, f_sub)[0],
        2 * pad + _text_size(probe, note, f_pct)[0],
        420,
    )
    height = grid_y + grid + 8 + col_label_h + 8 + 26 + legend_h + pad

    img = Image.new("RGB", (int(width), int(height)), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((pad, pad), title, font=f_title, fill=_INK)
    if subtitle:
        draw.text((pad, pad + (30 if title else 0)), subtitle, font=f_sub, fill=(90, 96, 104))

    totals = cm.sum(axis=1)
    for r in range(n):
        for c in range(n):
            count = int(cm[r, c])
            frac = count / totals[r] if totals[r] else 0.0
            if count == 0:
                color = (255, 255, 255)
            elif r == c:
                color = _ramp(_BLUES, 0.12 + 0.88 * frac)
            else:
                color = _ramp(_REDS, 0.15 + 0.85 * math.sqrt(frac))
            x0, y0 = grid_x + c * cell, grid_y + r * cell
            draw.rectangle([x0, y0, x0 + cell, y0 + cell], fill=color, outline=_GRID)
            if not annotate or count == 0:
                continue
            ink = (255, 255, 255) if _luminance(color) < 0.55 else _INK
            top = str(count)
            bottom = (
                "100%" if frac >= 0.9995 else "<0.1%" if frac < 0.0005 else f"{100 * frac:.1f}%"
            )
            tw, th = _text_size(draw, top, f_count)
            bw, bh = _text_size(draw, bottom, f_pct)
            gap = max(2, cell // 16)
            y = y0 + (cell - th - bh - gap) / 2
            draw.text((x0 + (cell - tw) / 2, y), top, font=f_count, fill=ink, anchor="la")
            draw.text(
                (x0 + (cell - bw) / 2, y + th + gap), bottom, font=f_pct, fill=ink, anchor="la"
            )
    draw.rectangle([grid_x, grid_y, grid_x + grid, grid_y + grid], outline=(134, 142, 150))

    # Row labels (true class) and support, column labels (predicted class).
    for r, name in enumerate(labels):
        tw, th = _text_size(draw, name, f_label)
        cy = grid_y + r * cell + cell / 2
        draw.text((grid_x - 8 - tw, cy - th / 2), name, font=f_label, fill=_INK, anchor="la")
        draw.text(
            (grid_x + grid + 8, cy - th / 2),
            f"n={int(totals[r])}",
            font=f_label,
            fill=(110, 116, 124),
            anchor="la",
        )
    for c, name in enumerate(labels):
        cx = grid_x + c * cell + cell / 2
        if vertical_cols:
            tile = _rotated_text(name, f_label, _INK)
            img.paste(tile, (int(cx - tile.width / 2), grid_y + grid + 8), tile)
        else:
            tw, _ = _text_size(draw, name, f_label)
            draw.text((cx - tw / 2, grid_y + grid + 8), name, font=f_label, fill=_INK, anchor="la")
    below = grid_y + grid + 8 + col_label_h + 8
    aw, _ = _text_size(draw, columns, f_axis)
    draw.text((grid_x + (grid - aw) / 2, below), columns, font=f_axis, fill=_INK)
    tile = _rotated_text(rows, f_axis, _INK)
    img.paste(tile, (pad, int(grid_y + (grid - tile.height) / 2)), tile)

    # Legend: the two ramps with what they mean.
    ly = below + 34
    bar_w = 150
    for k, (anchors, label, scale) in enumerate(
        (
            (_BLUES, "correct (diagonal), % of true class", lambda t: 0.12 + 0.88 * t),
            (
                _REDS,
                "confused (off-diagonal), % of true class",
                lambda t: 0.15 + 0.85 * math.sqrt(t),
            ),
        )
    ):
        lx = pad + k * (bar_w + 60 + 150)
        if lx + bar_w > width - pad:
            lx, ly = pad, ly + 32
        for i in range(bar_w):
            draw.line([lx + i, ly, lx + i, ly + 12], fill=_ramp(anchors, scale(i / (bar_w - 1))))
        draw.rectangle([lx, ly, lx + bar_w, ly + 12], outline=(173, 181, 189))
        draw.text((lx, ly + 15), "0%", font=f_pct, fill=(90, 96, 104))
        ew, _ = _text_size(draw, "100%", f_pct)
        draw.text((lx + bar_w - ew, ly + 15), "100%", font=f_pct, fill=(90, 96, 104))
        draw.text((lx + bar_w + 8, ly - 2), label.split(", ")[0], font=f_pct, fill=_INK)
    draw.text(
        (pad, ly + 36),
        note,
        font=f_pct,
        fill=(90, 96, 104),
    )
    return img


def plot_range(values: Any, margin: float = 0.04) -> tuple[float, float]:
    """The axis range of a plot of the finite ``values``, ``margin`` (a share of their span)
    added on each side. Never empty and never beyond the floats: equal values get a span of
    ±1, or a millionth of their size where ±1 would do nothing (above 2^53: 1e17 + 1 == 1e17);
    a span of -1e308 .. 1e308 stays finite (worked out as centre and half-span). Map values
    into it with :func:`plot_fraction`, which does not overflow either."""
    v = np.asarray(values, float).ravel()
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    centre, half = lo / 2 + hi / 2, hi / 2 - lo / 2
    if half <= 0:
        half = max(1.0, abs(centre) * 1e-6)
    half *= 1 + 2 * margin
    big = float(np.finfo(float).max)
    return max(centre - half, -big), min(centre + half, big)


def plot_fraction(x: Any, lo: float, hi: float) -> Any:
    """Where ``x`` lies in ``[lo, hi]`` (0 .. 1), without overflowing for a span of ±1e308."""
    return (np.asarray(x, float) / 2 - lo / 2) / (hi / 2 - lo / 2)


def plot_ticks(lo: float, hi: float, n: int) -> list[float]:
    """``n`` evenly spaced values from ``lo`` to ``hi`` (``np.linspace`` overflows for
    ``hi - lo`` beyond the floats)."""
    return [lo * (1 - t) + hi * t for t in np.linspace(0.0, 1.0, n)]


def scatter_image(
    y_true: np.ndarray, y_pred: np.ndarray, *, title: str = "", size: int = 560
) -> Image.Image:
    """Predicted against true values, with the identity line (perfect predictions)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    pad, left, bottom = 24, 70, 56
    f_title, f_tick, f_axis = _font(17, bold=True), _font(12), _font(14, bold=True)
    top = pad + (28 if title else 0)
    width, height = left + size + pad, top + size + bottom
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    if title:
        draw.text((pad, pad), title, font=f_title, fill=_INK)
    finite = np.isfinite(y_true) & np.isfinite(y_pred)
    values = np.concatenate([y_true[finite], y_pred[finite]])
    lo, hi = plot_range(values, 0.04)
    inner = plot_range(values, 0.0)

    def to_px(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return left + plot_fraction(x, lo, hi) * size, top + size - plot_fraction(y, lo, hi) * size

    draw.rectangle([left, top, left + size, top + size], outline=(134, 142, 150))
    for t in plot_ticks(*inner, 5):
        px, py = to_px(np.array(t), np.array(t))
        draw.line([px, top, px, top + size], fill=_GRID)
        draw.line([left, py, left + size, py], fill=_GRID)
        label = f"{t:.3g}"
        tw, th = _text_size(draw, label, f_tick)
        draw.text((px - tw / 2, top + size + 6), label, font=f_tick, fill=_INK)
        draw.text((left - 8 - tw, py - th / 2), label, font=f_tick, fill=_INK)
    (x0, x1), (y0, y1) = to_px(np.array([lo, hi]), np.array([lo, hi]))
    draw.line([x0, y0, x1, y1], fill=(173, 181, 189), width=2)
    px, py = to_px(y_true[finite], y_pred[finite])
    r = 3 if px.size < 2000 else 2
    for x, y in zip(px, py, strict=True):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(37, 115, 183))
    aw, _ = _text_size(draw, "true", f_axis)
    draw.text((left + (size - aw) / 2, top + size + 28), "true", font=f_axis, fill=_INK)
    tile = _rotated_text("predicted", f_axis, _INK)
    img.paste(tile, (4, int(top + (size - tile.height) / 2)), tile)
    return img
