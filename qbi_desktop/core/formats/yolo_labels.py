"""The text files of a YOLO dataset, read into typed values with a problem per bad line.

Class names come from ``data.yaml`` (ultralytics, Roboflow: ``names`` as a list or an
``{id: name}`` mapping, ``nc`` checked against it, ``kpt_shape`` marking keypoint labels),
``classes.txt`` or darknet's ``obj.names`` (one name a line). YAML is not a dependency of the
application, so only the forms these tools write are read (block or flow list, block or flow
mapping, quoted or plain names); anything else is refused naming the file and line.

A label line is ``cls cx cy w h`` (normalised centre and size), ``cls cx cy w h conf``
(predictions saved with their confidence), ``cls x1 y1 ... xn yn`` (a polygon of n >= 3 points:
segmentation, or an oriented box as 4 corners) or, in a dataset whose ``data.yaml`` has
``kpt_shape``, a box followed by keypoints. All coordinates are fractions of the image's width
and height, as ultralytics reads them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from qbi_desktop.core.decimal_text import decimal_number
from qbi_desktop.core.formats.common import box_problem

#: How far (in pixels) a box edge may stick out of the image and still be clipped to it: the
#: six decimals tools write, and their float noise, round to less than this.
TOLERANCE_PX = 1.0
#: Objects one label file may hold (ultralytics keeps at most 300 detections per image), and
#: problems listed per file before the rest are counted: a hostile file cannot fill the memory
MAX_OBJECTS = 100_000
MAX_PROBLEMS = 50
#: Windows editors start UTF-8 text files with a byte-order mark
BOM = "\ufeff"


@dataclass(frozen=True)
class LabelLine:
    """One object of a label file: class id and its box in pixels (top-left x, y, w, h)."""

    number: int  # line number in the file (1-based)
    cls: int
    x: float
    y: float
    w: float
    h: float
    polygon: bool = False  # the line was a polygon (its bounding box is kept)
    extra: str | None = None  # what the line had beyond a box ("confidence", "keypoints")
    clipped: bool = False


@dataclass
class LabelFile:
    lines: list[LabelLine]
    problems: list[str]  # each "line N: ..." (the caller adds the file)
    duplicates: int = 0  # repeated identical lines, kept once (as ultralytics does)


def parse_label_text(text: str, width: int, height: int, keypoints: int | None = None) -> LabelFile:
    """The objects of a YOLO label file for an image of ``width`` x ``height`` pixels.
    ``keypoints``: values per keypoint entry (``kpt_shape`` of data.yaml) when the dataset
    holds pose labels, else None."""
    out = LabelFile([], [])
    seen: set[tuple[str, ...]] = set()
    # line by line from a stream: a list of all lines of a large file would double its memory
    for number, raw in enumerate(io.StringIO(text.removeprefix(BOM), newline=None), 1):
        fields = raw.split()
        if not fields:
            continue
        key = tuple(fields)
        if key in seen:
            out.duplicates += 1
            continue
        seen.add(key)
        parsed = _line(number, fields, width, height, keypoints)
        if isinstance(parsed, str):
            if len(out.problems) == MAX_PROBLEMS:
                out.problems.append(f"line {number} and later: more problems, not listed")
                return out
            out.problems.append(f"line {number}: {parsed}")
        elif len(out.lines) == MAX_OBJECTS:
            out.problems.append(f"line {number}: more than {MAX_OBJECTS} objects in one image")
            return out
        else:
            out.lines.append(parsed)
    return out


def _numbers(fields: list[str]) -> list[float] | str:
    values = []
    for column, text in enumerate(fields, 1):
        try:
            value = decimal_number(text)  # not float(): it reads 0.5_0 and non-ASCII digits
        except ValueError as exc:
            return f"column {column} is {text[:40]!r}, {exc}"
        values.append(value)
    return values


def _line(
    number: int, fields: list[str], width: int, height: int, keypoints: int | None
) -> LabelLine | str:
    values = _numbers(fields)
    if isinstance(values, str):
        return values
    cls = values[0]
    if cls < 0 or not cls.is_integer():
        return f"class id {fields[0]!r} is not a whole number of 0 or more"
    if cls >= 2**53:  # beyond what the number holds exactly: it would be shown changed
        return f"class id {fields[0][:40]!r} is too large to be a class id"
    n = len(values)
    extra = None
    polygon = False
    if keypoints and n > 5:
        if (n - 5) % keypoints:
            return (
                f"{n} columns: a box with keypoints of {keypoints} values each "
                f"(kpt_shape in data.yaml) needs 5 + a multiple of {keypoints}"
            )
        extra, coords = "keypoints", values[1:5]
    elif n == 5:
        coords = values[1:]
    elif n == 6:
        extra, coords = "confidence", values[1:5]
    elif n >= 7 and n % 2 == 1:
        polygon, coords = True, values[1:]
    else:
        return (
            f"{n} columns: expected 5 (class cx cy w h), 6 (with a confidence) or a class "
            "and 3 or more x y points"
        )
    if polygon:
        xs, ys = coords[0::2], coords[1::2]
        x0, x1, y0, y1 = min(xs) * width, max(xs) * width, min(ys) * height, max(ys) * height
    else:
        cx, cy, w, h = coords
        if w < 0 or h < 0:
            return f"box width {w:g} or height {h:g} is negative"
        x0, x1 = (cx - w / 2) * width, (cx + w / 2) * width
        y0, y1 = (cy - h / 2) * height, (cy + h / 2) * height
    if (
        x0 < -TOLERANCE_PX
        or y0 < -TOLERANCE_PX
        or x1 > width + TOLERANCE_PX
        or (y1 > height + TOLERANCE_PX)
    ):
        what = "polygon" if polygon else "box"
        return (
            f"{what} reaches ({x0:.1f}, {y0:.1f})-({x1:.1f}, {y1:.1f}) px, outside the "
            f"{width}x{height} image (coordinates are fractions of the image size, 0 to 1)"
        )
    cx0, cy0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
    # the one rule of every box entry (formats.common.box_problem): no box without an area
    if (why := box_problem(cx0, cy0, cx1 - cx0, cy1 - cy0, width, height)) is not None:
        return f"{'polygon' if polygon else 'box'} {why}"
    # clipping by less than this is the rounding of six decimals, not worth a note
    clipped = max(abs(cx0 - x0), abs(cy0 - y0), abs(cx1 - x1), abs(cy1 - y1)) > 0.01
    return LabelLine(number, int(cls), cx0, cy0, cx1 - cx0, cy1 - cy0, polygon, extra, clipped)


# -- class names ---------------------------------------------------------------------------------


@dataclass
class Names:
    """Class names by id, the file they came from, and ``kpt_shape``'s values per keypoint."""

    names: dict[int, str]
    source: Path
    keypoints: int | None = None


class NamesError(ValueError):
    """A names file that cannot be read; the message names the line."""


def names_from_lines(text: str) -> dict[int, str]:
    """``classes.txt`` / ``obj.names``: line i (0-based, blank lines at the end ignored) names
    class i, as darknet reads it."""
    # lines end at "\n" (and "\r\n", "\r") only, as darknet's fgets reads them: U+2028 and the
    # like inside a name are not line breaks (the class-name check refuses them)
    text = text.removeprefix(BOM).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line:
            raise NamesError(f"line {number}: empty class name (class {number - 1})")
    return dict(enumerate(lines))


def _strip_comment(line: str) -> str:
    """``line`` without a YAML comment (``#`` at the start or after a space, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str, where: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        body = text[1:-1]
        if re.search(r"\\[^\\\"nt]", body):
            raise NamesError(f'{where}: escape sequences other than \\\\ \\" \\n \\t not read')
        return (
            body.replace('\\"', '"').replace("\\n", "\n").replace("\\t", "\t").replace("\\\\", "\\")
        )
    if text[:1] in "'\"[]{}&*!|>%@`":
        raise NamesError(f"{where}: cannot read {text[:40]!r} as a class name")
    return text


def _split_flow(body: str, where: str) -> list[str]:
    """The comma-separated items of a flow list or mapping body (quotes respected)."""
    items, current, quote = [], "", None
    for char in body:
        if quote:
            current += char
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current += char
        elif char == ",":
            items.append(current)
            current = ""
        elif char in "[]{}":
            raise NamesError(f"{where}: nested lists or mappings are not class names")
        else:
            current += char
    if quote:
        raise NamesError(f"{where}: a quote is not closed")
    items.append(current)
    if items and not items[-1].strip():
        items.pop()  # a trailing comma
    return items


def _mapping_entry(text: str, where: str) -> tuple[int, str]:
    key, sep, value = text.partition(":")
    try:
        cid = int(_scalar(key, where))
    except ValueError:
        raise NamesError(f"{where}: the key {key.strip()!r} is not a class id") from None
    if not sep or not value.strip():
        raise NamesError(f"{where}: class {cid} has no name")
    return cid, _scalar(value, where)


def names_from_yaml(text: str) -> tuple[dict[int, str], int | None, int | None]:
    """``names`` (by id), ``nc`` and the values per keypoint of ``kpt_shape`` of a data.yaml."""
    lines = [_strip_comment(line) for line in text.removeprefix(BOM).splitlines()]
    top: dict[str, tuple[int, str]] = {}  # key -> (line index, rest of the line)
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:(.*)$", line)
        if match and not line[0].isspace():
            top[match.group(1)] = (i, match.group(2).strip())
    nc = None
    if "nc" in top and top["nc"][1]:
        try:
            nc = int(top["nc"][1])
        except ValueError:
            raise NamesError(
                f"line {top['nc'][0] + 1}: nc {top['nc'][1]!r} is not a number"
            ) from None
    keypoints = None
    if "kpt_shape" in top:
        found = re.fullmatch(r"\[\s*\d+\s*,\s*(\d+)\s*\]", top["kpt_shape"][1])
        if not found:
            raise NamesError(f"line {top['kpt_shape'][0] + 1}: kpt_shape is not [count, values]")
        keypoints = int(found.group(1))
    if "names" not in top:
        raise NamesError("no 'names:' entry (the class names)")
    start, rest = top["names"]
    where = f"line {start + 1}"
    if rest.startswith(("[", "{")):
        close = "]" if rest[0] == "[" else "}"
        body, end = rest, start
        while not body.endswith(close):  # a flow list may go on over several lines
            end += 1
            if end >= len(lines) or (lines[end] and not lines[end][0].isspace()):
                raise NamesError(f"{where}: the list of names is not closed with {close!r}")
            body += " " + lines[end].strip()
        items = _split_flow(body[1:-1], where)
        if close == "]":
            return dict(enumerate(_scalar(t, where) for t in items)), nc, keypoints
        return dict(_mapping_entry(t, where) for t in items), nc, keypoints
    if rest:
        raise NamesError(f"{where}: names must be a list or an id: name mapping, not {rest!r}")
    names: dict[int, str] = {}
    listed = 0
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if not line[0].isspace() and not (line.startswith("- ") or line == "-"):
            break  # (a list's dashes may start at the key's own column)
        entry, where = line.strip(), f"line {i + 1}"
        if entry.startswith("- ") or entry == "-":
            if entry == "-":
                raise NamesError(f"{where}: class {listed} has no name")
            names[listed] = _scalar(entry[2:], where)
            listed += 1
        else:
            cid, name = _mapping_entry(entry, where)
            if cid in names:
                raise NamesError(f"{where}: class {cid} is named twice")
            names[cid] = name
    if not names:
        raise NamesError(f"{where}: names is empty")
    return names, nc, keypoints
