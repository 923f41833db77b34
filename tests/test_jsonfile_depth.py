"""The nesting check every JSON reader runs before parsing (jsonfile.nesting_depth) agrees with
the depth of what json.loads builds, whatever the strings hold: brackets, escaped quotes,
backslash runs before a closing quote."""

from __future__ import annotations

import json
import random

import pytest

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jsonfile import MAX_DEPTH, nesting_depth, read_json

TRICKY = ["[", "]{", '"', '\\"[', "\\\\", 'a\\\\"', '\\\\\\"}}', "", "x"]


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _document(rng: random.Random, level: int):
    roll = rng.random()
    if level > 12 or roll < 0.3:
        return rng.choice([*TRICKY, 1, 2.5, None, True])
    if roll < 0.65:
        return [_document(rng, level + 1) for _ in range(rng.randint(0, 3))]
    return {
        rng.choice(TRICKY) + str(i): _document(rng, level + 1) for i in range(rng.randint(0, 3))
    }


def test_depth_is_that_of_the_parsed_value_whatever_the_strings_hold():
    rng = random.Random(7)
    for _ in range(2000):
        value = _document(rng, 0)
        for text in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=False)):
            assert nesting_depth(text.encode()) == _depth(value), text


def test_brackets_in_strings_do_not_make_a_file_too_deep(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"name": "[" * (MAX_DEPTH * 3) + '\\"' + "{" * 500, "n": [[1]]}))
    assert read_json(path)["n"] == [[1]]
    path.write_text('{"a": "\\\\"}' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(UserFacingError, match="nested too deeply"):
        read_json(path)
