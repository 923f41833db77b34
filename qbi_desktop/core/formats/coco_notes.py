"""What a COCO import says in its report besides the problems: a missing image file's twin in
other letter case, entries that named one file and became one item, and what of the
annotations the project cannot hold (crowd boxes, rotation, keypoints, attributes)."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from qbi_desktop.core.safefile import resolve_inside


def case_twin(
    bases: list[Path], file_name: str, root: Path, listings: dict[Path, dict[str, str]]
) -> str:
    """Where a file of the name exists but in other letter case (a file written on Windows or
    macOS says ``b.jpg`` for ``b.JPG``) or in the other Unicode normalisation (``café.png``
    typed composed, NFC, but stored decomposed, NFD, as macOS writes names; the two look the
    same), the words that say so; else nothing. Each folder is listed once per file, and only
    when an image is missing. Every importer looking up files an annotation file names uses it."""
    from qbi_desktop.core.catalog.classes import folder_key

    for base in bases:
        wanted = resolve_inside(base, file_name, root)
        if isinstance(wanted, str) or not wanted.parent.is_dir():
            continue
        folder = wanted.parent
        if folder not in listings:
            listings[folder] = {folder_key(p.name): p.name for p in folder.iterdir()}
        twin = listings[folder].get(folder_key(wanted.name))
        if twin is None or twin == wanted.name:
            continue
        if unicodedata.normalize("NFC", twin) == unicodedata.normalize("NFC", wanted.name):
            form = "NFD" if unicodedata.is_normalized("NFD", twin) else "another form"
            return (
                f"; {twin!r} differs only in Unicode normalisation (the file's name is {form}, "
                f"{len(twin)} code points, the name given {len(wanted.name)}): rename one to "
                "match"
            )
        return f"; {twin!r} differs only in letter case"
    return ""


def merged_notes(name: str, alias: dict[Any, Any], images: dict[Any, dict[str, Any]]) -> list[str]:
    """The report's note on entries that named one file and became one item."""
    groups: dict[Any, list[Any]] = {}
    for dup, first in alias.items():
        groups.setdefault(first, [first]).append(dup)
    if not groups:
        return []
    said = [
        f"{images[first]['path'].name} (image ids {', '.join(map(repr, ids))} -> one item)"
        for first, ids in list(groups.items())[:5]
    ]
    more = f" and {len(groups) - 5} more" if len(groups) > 5 else ""
    return [
        f"{name}: {len(alias) + len(groups)} image entries name {len(groups)} file(s) more than "
        f"once (as Label Studio writes one entry per annotation); each file is one item with "
        f"the annotations of all its entries: {'; '.join(said)}{more}"
    ]


def places(indices: list[int]) -> str:
    shown = ", ".join(f"annotations[{i}]" for i in indices[:5])
    return shown + (f" and {len(indices) - 5} more" if len(indices) > 5 else "")


def left_out_notes(name: str, left_out: dict[str, list[int]], keys: set[str]) -> list[str]:
    """The report's notes on what of a file's annotations the project cannot hold."""
    notes = []
    if left_out["crowd boxes"]:
        notes.append(
            f"{name}: {len(left_out['crowd boxes'])} crowd annotation(s) (iscrowd 1) with a "
            f"bbox but no segmentation left out: {places(left_out['crowd boxes'])} (a crowd "
            "is no object, and only its region could mark it)"
        )
    if left_out["rotated"]:
        notes.append(
            f"{name}: {len(left_out['rotated'])} box(es) rotated by attributes.rotation came in "
            f"unrotated (the project's boxes are upright): {places(left_out['rotated'])}"
        )
    if left_out["keypoints"]:
        notes.append(
            f"{name}: keypoints of {len(left_out['keypoints'])} annotation(s) left out (the "
            f"project keeps no keypoints): {places(left_out['keypoints'])}"
        )
    if left_out["attributes"]:
        notes.append(
            f"{name}: attributes of {len(left_out['attributes'])} annotation(s) left out (the "
            f"project keeps no attributes): {', '.join(repr(k) for k in sorted(keys))}"
        )
    return notes


def touching_notes(
    name: str,
    merged: dict[str, list[tuple[str, int | str]]],
    kept: str = "each keeps its box",
    what: str = "overlap or touch an object of their class painted before them",
) -> list[str]:
    """The report's note on objects painted into a class mask where another object of their
    class already was (overlapping or touching it): one region now, as the class mask cannot
    tell them apart. ``merged``: class -> (image, annotation index or place) of each such
    object; ``kept`` says what of the objects the project keeps apart."""
    if not merged:
        return []
    total = sum(len(v) for v in merged.values())
    by_class = ", ".join(
        f"{len(v)} {cls!r}" for cls, v in sorted(merged.items(), key=lambda kv: -len(kv[1]))
    )
    by_image: dict[str, list[str]] = {}
    for found in merged.values():
        for image, where in found:
            shown = f"annotations[{where}]" if isinstance(where, int) else where
            by_image.setdefault(image, []).append(shown)
    said = [
        f"{image} ({', '.join(places[:3])}{', ...' if len(places) > 3 else ''})"
        for image, places in sorted(by_image.items())[:3]
    ]
    more = f" and {len(by_image) - 3} more image(s)" if len(by_image) > 3 else ""
    return [
        f"{name}: {total} object(s) {what} and became one region with it (the project's masks "
        f"hold one value per class, not one per object; {kept}): {by_class}; in "
        f"{'; '.join(said)}{more}"
    ]
