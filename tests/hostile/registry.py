"""The case registry of the hostile corpus: each case module registers its builders here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Entry points (see harness.py): which paths of the app read a case.
IMAGE_ENTRIES = (
    "viewer",
    "window",
    "import",
    "cli-import",
    "thumbnails",
    "cli-detect-spots",
    "cli-augment",
)
JSON_ENTRIES = ("import", "cli-import")
PROJECT_ENTRIES = ("cli-export", "thumbnails", "cli-baseline", "cli-augment", "cli-import")


@dataclass
class Case:
    name: str
    cls: int  # issue 17 class; 0 = control (must be accepted)
    kind: (
        str  # image, coco, labelme, sheet, mnist, npz, archive, journal, pipeline, params, project
    )
    entries: tuple[str, ...]
    expect: str = "refuse"  # refuse | accept | either
    source: str = ""  # the file (or folder) the entry points are given, relative to the case
    names: tuple[str, ...] = ()  # a message must name one of these (default: source's name)
    import_kind: str = ""
    images: str = ""  # --images folder
    export_kind: str = "coco"
    fifo: bool = False  # the harness makes ``source`` a FIFO at run time
    expect_by_entry: dict[str, str] = field(default_factory=dict)
    check: dict[str, Any] = field(default_factory=dict)  # extra checks (see harness)
    note: str = ""


CASES: list[Case] = []
BUILDERS: dict[str, Callable[[Path, Path], None]] = {}


def case(name: str, cls: int, kind: str, entries, **kw: Any):
    """Register a builder ``fn(case_dir, corpus_dir)`` for one case."""

    def wrap(fn: Callable[[Path, Path], None]):
        c = Case(name, cls, kind, tuple(entries), **kw)
        if not c.names and c.source:
            c.names = (Path(c.source).name,)
        CASES.append(c)
        BUILDERS[name] = fn
        return fn

    return wrap
