"""Whole-number options of the commands, checked by argparse: an id, a seed or a count outside
what the work can take is refused at once (exit 2, one line naming the option), never passed on
to SQLite ("Python int too large to convert"), numpy ("expected non-negative integer") or a
loop that plans 10^20 images."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: the largest integer SQLite stores (item ids) and numpy seeds from
INT64_MAX = 2**63 - 1


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


item_id = whole(1, INT64_MAX, "an item id")
seed = whole(0, INT64_MAX, "a seed")
