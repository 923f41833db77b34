"""Files for the hostile import and export tests (tests/test_formats_hostile*.py): small
images, COCO and LabelMe files with chosen records replaced, and how a refusal is read (the
core job's message, the CLI's exit code and output, a time limit instead of a hang)."""

from __future__ import annotations

import contextlib
import json
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qbi_desktop.cli import main as cli_main
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.formats import import_job
from qbi_desktop.core.jobs import run_job


def _png(path: Path, shape=(30, 40), seed=1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _coco(folder: Path, images=None, annotations=None, categories=None, name="instances.json"):
    """A COCO file over a.png (40x30) and b.png, with the given records replacing the good ones."""
    _png(folder / "a.png", seed=1)
    _png(folder / "b.png", seed=2)
    doc = {
        "images": images
        if images is not None
        else [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
        ],
        "categories": categories
        if categories is not None
        else [{"id": 1, "name": "spot"}, {"id": 2, "name": "crack"}],
        "annotations": annotations
        if annotations is not None
        else [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [2, 3, 10, 5],
                "iscrowd": 0,
                "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]],
            }
        ],
    }
    path = folder / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return path


def _labelme(folder: Path, shapes=None, **fields) -> Path:
    _png(folder / "x.png", (16, 20), seed=3)
    doc = {
        "shapes": shapes
        if shapes is not None
        else [{"label": "leaf", "points": [[2, 2], [9, 2], [9, 8]], "shape_type": "polygon"}],
        "imagePath": "x.png",
        "imageHeight": 16,
        "imageWidth": 20,
        "flags": {},
    }
    doc.update(fields)
    path = folder / "x.json"
    path.write_text(json.dumps(doc))
    return path


def _refused(project, kind, sources, **options) -> str:
    """The message of a refused import; the project must be unchanged (empty)."""
    with pytest.raises(UserFacingError) as caught:
        run_job(import_job(project, kind, [str(s) for s in sources], **options))
    assert len(project) == 0
    return str(caught.value)


def _cli(capsys, *argv) -> tuple[int, str]:
    code = cli_main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.err


@contextlib.contextmanager
def _within(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks longer than ``seconds``."""

    def timeout(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
