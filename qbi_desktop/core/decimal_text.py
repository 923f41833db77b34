"""Numbers written in files and typed by people: plain decimal notation only.

Python's ``float()`` and ``int()`` also read ``1_000`` (a digit separator: YOLO's ``0.5_0`` was
0.5), Arabic-Indic or full-width digits (``٠.٥``, ``０``) and surrounding spaces of every
kind, none of which a label file, a sheet or a typed target value means. Here a number is ASCII:
an optional sign, digits with an optional point (or a point and digits), an optional exponent.
"""

from __future__ import annotations

import math
import re

DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def decimal_number(text: str) -> float:
    """``text`` (stripped of ASCII spaces) in plain decimal notation as a float; ValueError
    otherwise, whose message says whether it was a non-finite number ("nan", "inf", "1e999")
    or not a number at all."""
    s = text.strip(" \t")
    if DECIMAL.fullmatch(s):
        value = float(s)
        if value == 0 and re.search(r"[1-9]", s.split("e")[0].split("E")[0]):
            # 1e-400 is no zero: stored as 0 it would change without a word
            raise ValueError("too close to zero to be held (below 4.9e-324, it would become 0)")
        if math.isfinite(value):
            return value
        raise ValueError("not a finite number")
    if s.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise ValueError("not a finite number")
    raise ValueError("not a number")
