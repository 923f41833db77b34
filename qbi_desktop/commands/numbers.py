"""Number options of the commands, checked by argparse: an id, a seed, a count or a measure
outside what the work can take is refused at once (exit 2, one line naming the option), never
passed on to SQLite ("Python int too large to convert"), numpy ("expected non-negative
integer"), a process pool ("Python int too large to convert to C int"), a loop that plans 10^20
images, or a comparison with NaN that is always false. Every number option of every command
takes its ``type`` from here."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

#: the largest integer SQLite stores (item ids) and numpy seeds from
INT64_MAX = 2**63 - 1
#: scikit-learn's random_state takes 32-bit seeds only
SEED32_MAX = 2**32 - 1
#: local worker processes one run may start
MAX_WORKERS = 1024


def whole(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be from {low:,} to {high:,}, got {text}")
        return value

    parse.__name__ = what  # argparse names the type in its messages
    return parse


def real(
    low: float = -math.inf,
    high: float = math.inf,
    what: str = "a number",
    *,
    above: bool = False,
    below: bool = False,
) -> Callable[[str], float]:
    """An argparse ``type``: a finite number from ``low`` to ``high`` (strictly above ``low``
    when ``above``, strictly below ``high`` when ``below``); NaN and infinities are refused
    whatever the bounds."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number, got {text}")
        if value < low or value > high or (above and value == low) or (below and value == high):
            lower = f"above {low:g}" if above else f"at least {low:g}"
            upper = f"below {high:g}" if below else f"at most {high:g}"
            span = lower if high == math.inf else f"{lower} and {upper}"
            raise argparse.ArgumentTypeError(f"{what} must be {span}, got {text}")
        return value

    parse.__name__ = what
    return parse


item_id = whole(1, INT64_MAX, "an item id")
seed = whole(0, INT64_MAX, "a seed")
seed32 = whole(0, SEED32_MAX, "a seed")
#: a count of things the data bounds itself (neighbours, folds, items): the command says more
positive = whole(1, INT64_MAX, "a count")
workers = whole(1, MAX_WORKERS, "a worker count")
