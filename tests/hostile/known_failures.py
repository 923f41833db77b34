"""(case, entry point) pairs of the hostile corpus that are still not handled cleanly.

Each is a strict xfail in tests/test_hostile_corpus.py with its class and what fails:
when a fix makes one clean, its test errors (XPASS strict) until its line here is
removed. Written by ``python -m tests.hostile.harness CORPUS --known-failures FILE``.
"""

KNOWN_FAILURES: dict[tuple[str, str], str] = {}
