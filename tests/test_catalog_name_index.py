""" "Name contains" three characters or more through the trigram index: the index is asked for
every trigram of the text, each quoted, so the characters of its query syntax (quotes,
brackets, ``*``, ``:``, ``^``, ``-``, words such as AND or NEAR) and LIKE's ``%`` and ``_`` are
plain characters; trigrams that lie apart in a name and the index's wider case folding find a
few names too many, which the exact test drops. Counts and pages are those of
``name LIKE '%text%'`` (ASCII case folded) for every sort."""

from __future__ import annotations

import pytest

from qbi_desktop.core.catalog import count_cache, names, open_project
from qbi_desktop.core.catalog import queries as q
from tests.test_catalog_scale import BROWSER_SORTS, _plain, _reference
from tests.test_catalog_v10 import catalog_of

#: Names holding the texts below, and names holding each text's trigrams apart or in another
#: non-ASCII case only (found by the index, refused by the exact test).
SPECIAL = [
    'scan "A" (1).tif', 'scan "a" (2).tif', 'scan A (3).tif', "a AND b", "a and bee", "AND",
    "x:y^z-1", "x:y z-1", "NEAR(a b)", "near a b", "star*", "sta r*", "ärger", "Ärger",
    "ÄRGER", "abcXbcd", "abcd", "50%_off", "50% off", "a''b", 'say "hi"', "--x--", "q-x-",
]  # fmt: skip
TEXTS = [
    '"A"', "a AND b", "AND", "x:y^z", "NEAR(", "ar*", "ärg", "ÄRG", "abcd", "bcd", "%_o",
    "0% ", "a''b", '"hi"', "--x", "scan", "(1)",
]  # fmt: skip


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("special") / "p"
    all_names = [f"item{i:05d}" for i in range(2000)]
    for k, name in enumerate(SPECIAL):
        all_names[83 * k + 5] = name
    return catalog_of(root, all_names)


def test_texts_with_query_syntax_find_exactly_what_like_finds(catalog):
    with open_project(catalog) as p:
        for text in TEXTS:
            count_cache.clear()
            assert names.uses_index(p.db, text), text  # few names hold it: the index path
            for f in ({"name": text}, {"name": text, "split": "train"}):
                where, params = q.where_clause(f)
                plain = p.db.execute(_plain("SELECT COUNT(*) FROM items " + where), params)
                assert p.count(f) == plain.fetchone()[0], f
                for key in BROWSER_SORTS:
                    for sort in (key, "-" + key):
                        got = p.page_ids(f, sort, 0, 50).tolist()
                        assert got == _reference(p.db, f, sort, 0, 50), (f, sort)
        # spelt out: the trigrams of "abcd" are all in "abcXbcd", and "ärg" in "Ärger" only
        # in another case beyond ASCII; neither name holds the text
        assert [r["name"] for r in p.query({"name": "abcd"})] == ["abcd"]
        assert [r["name"] for r in p.query({"name": "ärg"})] == ["ärger"]
        assert {r["name"] for r in p.query({"name": '"A"'})} == {'scan "A" (1).tif',
                                                                'scan "a" (2).tif'}  # fmt: skip


def test_the_index_is_asked_for_every_trigram_quoted():
    assert names.index_query('a"b c') == '"a""b" AND """b " AND "b c"'
    assert names.index_query("abc") == '"abc"'
