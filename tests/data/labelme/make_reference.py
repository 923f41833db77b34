"""Writes ``<stem>.labelme.png`` and ``<stem>.labelme.txt`` beside each labelme file given:
the label image that labelme's own ``LabelFile`` and ``shapes_to_label`` make of it (rectangles
left out: QBI imports them as boxes), values numbered by first appearance, ``__ignore__`` = 255,
and the name -> value table as JSON (in a .txt: a .json here would be taken for a labelme file
by an import of the folder).

Not part of the test suite (labelme needs PyQt5 and onnxruntime, which must not share the
test environment with PySide6); run in a separate environment:

    python -m venv /tmp/lm && /tmp/lm/bin/pip install labelme==6.3.1
    QT_QPA_PLATFORM=offscreen /tmp/lm/bin/python make_reference.py primitives/primitives.json ...
"""

import io
import json
import sys
from pathlib import Path

import numpy as np
import PIL.Image
from labelme._label_file import LabelFile
from labelme.utils.shape import shapes_to_label

for name in sys.argv[1:]:
    lf = LabelFile(name)
    width, height = PIL.Image.open(io.BytesIO(lf.image_data)).size
    shapes = [s for s in lf.shapes if s["shape_type"] != "rectangle"]
    values = {"_background_": 0}
    for s in shapes:
        values.setdefault(s["label"], 255 if s["label"] == "__ignore__" else len(values))
    cls, _ = shapes_to_label((height, width), shapes, values)
    stem = Path(name).with_suffix("")
    PIL.Image.fromarray(cls.astype(np.uint8)).save(f"{stem}.labelme.png")
    Path(f"{stem}.labelme.txt").write_text(json.dumps(values, indent=1) + "\n")
