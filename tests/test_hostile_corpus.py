"""Issue 17: the hostile-input corpus through every entry point that reads each kind of file.

The corpus is written once per session by ``tests/hostile/make_corpus.py``; the harness
(``tests/hostile/harness.py``) runs every (case, entry point) in its own forked child under a
4 GiB address-space cap and a 60 s limit, two at a time, and judges it: a refusal must name the
file and the problem (exit code 2 for the CLI, no traceback), a good file must be accepted,
nothing may hang, be killed, leave half-written files or write outside the place chosen.
Each test below asserts one judgement. Cases that still fail are listed, with what fails, in
``tests/hostile/known_failures.py`` (strict xfail: a fix turns them into errors until the line
is removed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.hostile.judge import judge  # noqa: E402
from tests.hostile.known_failures import KNOWN_FAILURES  # noqa: E402
from tests.hostile.make_corpus import CASES, make_corpus  # noqa: E402


def _params():
    out = []
    for case in CASES:
        for entry in case.entries:
            reason = KNOWN_FAILURES.get((case.name, entry))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(case.name, entry, marks=marks, id=f"{case.name}-{entry}"))
    return out


@pytest.fixture(scope="session")
def corpus_results(tmp_path_factory) -> dict[tuple[str, str], dict]:
    """Write the corpus and run the whole harness once (two children at a time)."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    make_corpus(corpus)
    results = root / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.hostile.harness",
            str(corpus),
            "--out",
            str(results),
            "--work",
            str(root / "runs"),
            "--jobs",
            "2",
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    print("\n" + done.stdout)  # the per-class figures (pytest -s shows them)
    return {(r["case"], r["entry"]): r for r in json.loads(results.read_text())}


@pytest.mark.parametrize(("case_name", "entry"), _params())
def test_hostile_case(corpus_results, case_name, entry):
    r = corpus_results[(case_name, entry)]
    assert r["clean"], f"{case_name} through {entry}: {'; '.join(r['problems'])}"


def test_every_class_has_cases_on_several_entry_points():
    """The corpus covers each class of issue 17 that a file can carry (2 and 9 are fault
    scenarios: tests/test_faults.py; leftovers are also checked after every case here)."""
    runs = Counter()
    cases = Counter()
    for case in CASES:
        cases[case.cls] += 1
        runs[case.cls] += len(case.entries)
    for cls in (1, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13):
        assert cases[cls] >= 3, f"class {cls}: only {cases[cls]} case(s)"
        assert runs[cls] >= 3, f"class {cls}: only {runs[cls]} run(s)"
    assert cases[0] >= 5  # good files of each kind: the harness can see success


def test_corpus_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    make_corpus(a, {"tiff-tile-bomb", "coco-deep-nesting", "zip-coco-dotdot", "mnist-gz-bomb"})
    make_corpus(b, {"tiff-tile-bomb", "coco-deep-nesting", "zip-coco-dotdot", "mnist-gz-bomb"})
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files
    for rel in files:
        if rel.name == "manifest.json":
            continue
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_bombs_are_small_files_that_claim_huge_sizes(tmp_path):
    make_corpus(tmp_path, {"tiff-tile-bomb", "png-bomb", "mnist-gz-bomb", "zip-bomb"})
    import tifffile

    with tifffile.TiffFile(tmp_path / "tiff-tile-bomb/images/class_a/tiff-tile-bomb.tif") as tif:
        page = tif.pages[0]
        assert page.shape == (40000, 40000) and page.dtype.itemsize == 2  # 3.2 GB decoded
    assert (tmp_path / "tiff-tile-bomb/images/class_a/tiff-tile-bomb.tif").stat().st_size < 1e6
    assert (tmp_path / "zip-bomb/zip-bomb.zip").stat().st_size < 8e6
    import zipfile

    with zipfile.ZipFile(tmp_path / "zip-bomb/zip-bomb.zip") as z:
        assert z.infolist()[0].file_size >= 4 * 1024**3 - 1


def test_harness_judges_a_refusal_without_the_file_name_as_not_clean(tmp_path):
    """The judge itself: a refusal that does not name the file is not clean; one that does is."""
    case = {
        "name": "x",
        "cls": 4,
        "kind": "coco",
        "entries": ["import"],
        "expect": "refuse",
        "source": "coco.json",
        "names": ["coco.json"],
        "check": {},
    }
    work = tmp_path / "w"
    (work / "in").mkdir(parents=True)
    (work / "before.json").write_text("{}")
    (work / "corpus-before.json").write_text("{}")
    (work / "result.json").write_text(json.dumps({"status": "refused", "message": "bad type"}))
    (tmp_path / "host").mkdir()
    (tmp_path / "host/secret.png").write_bytes(b"s")
    verdict = judge(case, "import", work, tmp_path, 0, 0.1, False)
    assert not verdict["clean"] and "does not name" in verdict["problems"][0]
    (work / "result.json").write_text(
        json.dumps({"status": "refused", "message": "coco.json: annotations[0].bbox: not a list"})
    )
    assert judge(case, "import", work, tmp_path, 0, 0.1, False)["clean"]
