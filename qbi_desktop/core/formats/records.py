"""Typed reading of parsed JSON: each value is checked for the type the format wants before any
code uses it, and a wrong one is a :class:`FieldError` that names the record and the field, e.g.
``images[3].id: expected an integer, got a list``.

The importers (COCO, labelme, Data Package) build small dataclasses from these checks, so that
no TypeError, AttributeError, ValueError or OverflowError from a wrong type can reach the
person using the app. NaN, infinite or absurdly large numbers are refused here as well.
"""

from __future__ import annotations

import math
from typing import Any

#: Coordinates beyond this are not pixel positions of any image we can hold (and would overflow
#: integer conversions later).
MAX_COORDINATE = 1e9


class FieldError(ValueError):
    """A field of a record has the wrong type or value; the message starts with its place."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


def describe(value: Any) -> str:
    """A JSON value as a message says it: 'a list', 'a string \"40\"', 'null', 'true', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) < 10**20:
            return f"the number {value}"
        return f"an integer of ~{int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def place(where: str, key: str | int) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}" if where else key


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FieldError(where, f"expected an object, got {describe(value)}")
    return value


def as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(where, f"expected a list, got {describe(value)}")
    return value


def as_int(value: Any, where: str, low: int | None = None, high: int | None = None) -> int:
    """An integer (a float with an integral value is accepted: some tools write ``3.0``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(where, f"expected an integer, got {describe(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = (
            f"{low}..{high}"
            if low is not None and high is not None
            else (f">= {low}" if low is not None else f"<= {high}")
        )
        raise FieldError(where, f"{describe(value)} is out of range ({bounds})")
    return value


def as_number(value: Any, where: str, limit: float = MAX_COORDINATE) -> float:
    """A finite number of at most ``limit`` in size; NaN, infinity, null, strings refused."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise FieldError(where, f"expected a number, got {describe(value)}")
    number = float(value) if not isinstance(value, int) or abs(value) < 10**300 else math.inf
    if not math.isfinite(number):
        raise FieldError(where, f"{describe(value)} is not a finite number")
    if abs(number) > limit:
        raise FieldError(where, f"{describe(value)} is too large (more than {limit:g})")
    return number


def as_str(value: Any, where: str, allow_numbers: bool = False) -> str:
    """A string (a number too when ``allow_numbers``: labels and names such as ``7``)."""
    if isinstance(value, str):
        return value
    if allow_numbers and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FieldError(where, f"expected a string, got {describe(value)}")


def as_id(value: Any, where: str) -> int | str:
    """A record id: an integer or a non-empty string (never a list, object, bool or null)."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, float | int) and not isinstance(value, bool):
        return as_int(value, where)
    raise FieldError(where, f"expected an integer id, got {describe(value)}")


def numbers(value: Any, where: str) -> list[float]:
    """A list of finite numbers."""
    if type(value) is list and all(type(v) is float or type(v) is int for v in value):
        # fast path (polygons of thousands of points): one vector check, per-item only on failure
        import numpy as np

        try:
            array = np.asarray(value, dtype=float)
        except OverflowError:
            array = None
        # min/max as array methods (numpy's all() wrapper costs more than the check on short
        # lists); a NaN fails both comparisons and takes the per-item path that names it
        if array is not None and (
            array.size == 0 or (array.min() >= -MAX_COORDINATE and array.max() <= MAX_COORDINATE)
        ):
            return array.tolist()
    return [as_number(v, place(where, i)) for i, v in enumerate(as_list(value, where))]


def field(obj: dict[str, Any], key: str, where: str) -> tuple[Any, str]:
    """``obj[key]`` (None when absent) and its place for messages."""
    return obj.get(key), place(where, key)


def required(obj: dict[str, Any], key: str, where: str) -> tuple[Any, str]:
    if key not in obj or obj[key] is None:
        raise FieldError(place(where, key), "missing")
    return obj[key], place(where, key)


__all__ = [
    "MAX_COORDINATE",
    "FieldError",
    "as_id",
    "as_int",
    "as_list",
    "as_number",
    "as_object",
    "as_str",
    "describe",
    "field",
    "numbers",
    "place",
    "required",
]
