"""labelme shapes as pixels, drawn the way labelme's own ``shape_to_mask`` draws them (the
function its ``shapes_to_label`` and converters use): PIL ``ImageDraw`` with ``outline`` and
``fill`` for polygons, circles and oriented rectangles, lines and line strips ``LINE_WIDTH``
pixels wide, a point as a disc of radius ``POINT_SIZE``. Those are labelme's defaults, so a
line or a point becomes the same region in our mask as in a mask labelme's tools export.

One canvas the size of the image serves every shape of a file: a shape is drawn, the box it can
reach is read back and cleared again, so a file of many small shapes on a large image costs
(shape area) each, not (image area). The drawing itself is PIL's, unchanged, in the image's own
coordinates, which is what makes the pixels labelme's.
"""

from __future__ import annotations

import math

import numpy as np

#: labelme's ``shape_to_mask`` defaults (``line_width=10, point_size=5``).
LINE_WIDTH = 10
POINT_SIZE = 5
#: shape types painted into the mask (a ``rectangle`` is a box; a ``mask`` shape is a PNG)
REGION_KINDS = ("polygon", "circle", "line", "linestrip", "point", "oriented_rectangle")
#: A circle larger than this (px) that neither covers nor misses the whole image is refused:
#: PIL walks the whole outline, which for a radius of 1e9 would take minutes.
MAX_RADIUS = 1 << 20


def points_problem(kind: str, n: int) -> str | None:
    """Why ``n`` points cannot make a shape of ``kind`` (labelme's own assertions), or None."""
    need = {"circle": 2, "line": 2, "point": 1, "oriented_rectangle": 4}
    if kind in need and n != need[kind]:
        return f"points: a {kind} needs {need[kind]} point(s), has {n}"
    if kind == "polygon" and n < 3:
        return f"points: a polygon needs at least 3 points, has {n}"
    if kind == "linestrip" and n < 2:
        return f"points: a linestrip needs at least 2 points, has {n}"
    return None


class Canvas:
    """Draws labelme shapes into a label mask of shape (height, width)."""

    def __init__(self, height: int, width: int):
        from PIL import Image, ImageDraw

        self.height, self.width = height, width
        self.image = Image.new("L", (width, height))
        self.draw = ImageDraw.Draw(self.image)

    def paint(self, mask: np.ndarray, kind: str, points: np.ndarray, value: int) -> str | None:
        """Set the pixels of one shape to ``value`` in ``mask``; None, or why it cannot be
        drawn (the caller names the file and the shape)."""
        drawn = self.region(kind, points)
        if isinstance(drawn, str):
            return drawn
        if drawn is not None:
            top, left, region = drawn
            mask[top : top + region.shape[0], left : left + region.shape[1]][region] = value
        return None

    def region(self, kind: str, points: np.ndarray) -> tuple[int, int, np.ndarray] | str | None:
        """The pixels of one shape as (top, left, bool window), None when it misses the image,
        or why it cannot be drawn."""
        reason = points_problem(kind, len(points))
        if reason is not None:
            return reason
        xy = [(float(x), float(y)) for x, y in points.tolist()]
        reach = 2.0
        if kind in ("line", "linestrip"):
            reach += LINE_WIDTH
        elif kind == "point":
            reach += POINT_SIZE
        elif kind == "circle":
            (cx, cy), (px, py) = xy
            d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)  # labelme's expression, exactly
            whole = self._circle_covers(cx, cy, d)
            if isinstance(whole, str):
                return whole
            if whole is not None:
                return (0, 0, np.ones((self.height, self.width), dtype=bool)) if whole else None
            reach += d
        xs, ys = [p[0] for p in xy], [p[1] for p in xy]
        x0 = max(0, int(math.floor(min(xs) - reach)))
        y0 = max(0, int(math.floor(min(ys) - reach)))
        x1 = min(self.width, int(math.ceil(max(xs) + reach)) + 1)
        y1 = min(self.height, int(math.ceil(max(ys) + reach)) + 1)
        if x1 <= x0 or y1 <= y0:
            return None  # wholly outside the image: labelme draws nothing either
        try:
            self._draw(kind, xy)
        except (OverflowError, ValueError, SystemError) as exc:
            self.image.paste(0, (0, 0, self.width, self.height))
            return f"cannot be drawn ({exc})"
        box = (x0, y0, x1, y1)
        drawn = np.asarray(self.image.crop(box)) > 0
        self.image.paste(0, box)
        return y0, x0, drawn

    def _circle_covers(self, cx: float, cy: float, d: float) -> bool | str | None:
        """True when a circle surely covers every pixel, False when it surely misses the
        image, None when it must be drawn, or why it is not (beyond MAX_RADIUS, see there)."""
        far = max(math.hypot(x - cx, y - cy) for x in (0, self.width) for y in (0, self.height))
        if far < d - 2:
            return True
        nx, ny = min(max(cx, 0), self.width), min(max(cy, 0), self.height)
        if math.hypot(nx - cx, ny - cy) > d + 2:
            return False
        if d > MAX_RADIUS:
            return f"a circle of radius {d:.0f} px crossing the image edge (at most {MAX_RADIUS})"
        return None

    def _draw(self, kind: str, xy: list[tuple[float, float]]) -> None:
        draw = self.draw
        if kind == "circle":
            (cx, cy), (px, py) = xy
            d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
            draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
        elif kind in ("line", "linestrip"):
            draw.line(xy=xy, fill=1, width=LINE_WIDTH)
        elif kind == "point":
            (cx, cy), r = xy[0], POINT_SIZE
            draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
        else:  # polygon, oriented_rectangle
            draw.polygon(xy=xy, outline=1, fill=1)
