"""Run the hostile corpus through the app's entry points and judge each outcome.

    python -m tests.hostile.harness CORPUS_DIR [--out results.json] [--jobs 2]
                                   [--only CASE ...] [--status STATUS.md]

The parent imports the app once, then forks one child per (case, entry point): the child gets
``RLIMIT_AS`` = 4 GiB, its own copy of the case's files, its own user folders
(``QBI_DESKTOP_HOME``), stdout/stderr in files, and is killed after 60 s. The judge then
decides *clean* or not (see :func:`judge`): a refusal must be a message naming the file (exit
code 2 for the CLI), an accepted input must be legitimately acceptable, nothing may hang, be
killed, print a traceback, leave half-written files or write outside the place chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from tests.hostile.judge import ADDRESS_SPACE, TIME_LIMIT, judge, tree

CLASS_NAMES = {
    0: "control (good files)",
    1: "journal decides where to write",
    2: "Save-As data loss",
    3: "memory blow-ups",
    4: "wrong JSON types",
    5: "deep nesting",
    6: "TIFF edge cases",
    7: "write errors",
    8: "hangs",
    9: "leftovers",
    10: "references outside an archive",
    11: "silent acceptance",
    12: "misleading messages",
    13: "injection",
}


def load_manifest(corpus: Path) -> list[dict[str, Any]]:
    return json.loads((corpus / "manifest.json").read_text())


def pairs(cases: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    return [(c, e) for c in cases for e in c["entries"]]


def _preimport() -> None:
    """Import the app once in the parent so every child starts warm (fork copies it)."""
    import qbi_desktop.cli  # noqa: F401
    import qbi_desktop.commands.augment  # noqa: F401
    import qbi_desktop.commands.baseline  # noqa: F401
    import qbi_desktop.commands.detect_spots  # noqa: F401
    import qbi_desktop.commands.project  # noqa: F401
    import qbi_desktop.core.formats  # noqa: F401
    import qbi_desktop.core.io  # noqa: F401

    try:
        import qbi_desktop.gui.main_window  # noqa: F401
    except ImportError:  # no Qt: the window entry will say so
        pass


# -- one child ------------------------------------------------------------------------------------
def _prepare(case: dict[str, Any], entry: str, corpus: Path, base: Path) -> Path:
    work = base / f"{case['name']}--{entry}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(corpus / case["name"], work / "in", symlinks=True)
    (work / "home").mkdir()
    # a file just outside the case's folder, where ``../`` references in the corpus point
    shutil.copytree(corpus / "host", work / "host")
    if case.get("fifo"):
        fifo = work / "in" / case["source"]
        fifo.parent.mkdir(parents=True, exist_ok=True)
        if fifo.exists():
            fifo.unlink()
        os.mkfifo(fifo)
    (work / "before.json").write_text(json.dumps(tree(work / "in")))
    # the corpus' own copy: absolute paths inside a case point there
    (work / "corpus-before.json").write_text(json.dumps(tree(corpus / case["name"])))
    return work


def _child(case: dict[str, Any], entry: str, corpus: Path, work: Path) -> None:
    from tests.hostile.entries import ENTRIES, Run

    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    os.environ["QBI_DESKTOP_HOME"] = str(work / "home")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["COLUMNS"] = "100"
    os.environ["QBI_ANNOTATE_AUTO_RECOVER"] = "recover"  # the window recovers, never asks
    os.chdir(work)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        f = os.open(work / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    code = 0
    try:
        run = Run(case, entry, work / "in", work, corpus)
        result = ENTRIES[entry](run)
    except MemoryError:
        result = {"status": "error", "exc_type": "MemoryError", "message": "MemoryError"}
    except BaseException as exc:  # noqa: BLE001 - the harness itself must report, not die
        import traceback

        result = {
            "status": "error",
            "exc_type": type(exc).__name__,
            "message": str(exc)[:2000],
            "traceback": traceback.format_exc()[-4000:],
        }
    try:
        (work / "result.json").write_text(json.dumps(result, default=str))
    except BaseException:  # noqa: BLE001
        code = 3
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_all(
    corpus: Path,
    base: Path,
    todo: list[tuple[dict[str, Any], str]],
    jobs: int = 2,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Fork a child per (case, entry), ``jobs`` at a time; judge each when it ends."""
    _preimport()
    base.mkdir(parents=True, exist_ok=True)
    pending = list(todo)
    running: dict[int, tuple[dict, str, Path, float]] = {}
    results: list[dict[str, Any]] = []
    while pending or running:
        while pending and len(running) < jobs:
            case, entry = pending.pop(0)
            work = _prepare(case, entry, corpus, base)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(case, entry, corpus, work)
            running[pid] = (case, entry, work, time.monotonic())
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for p, (case, entry, work, started) in list(running.items()):
                if now - started > TIME_LIMIT:
                    _kill_group(p)
                    os.waitpid(p, 0)
                    del running[p]
                    results.append(judge(case, entry, work, corpus, None, now - started, True))
                    _say(results[-1], progress)
            time.sleep(0.01)
            continue
        if pid not in running:
            continue
        case, entry, work, started = running.pop(pid)
        _kill_group(pid)  # anything the child left running (workers of a pool)
        results.append(judge(case, entry, work, corpus, status, time.monotonic() - started, False))
        _say(results[-1], progress)
    return results


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _say(r: dict[str, Any], progress: bool) -> None:
    if progress:
        mark = "ok  " if r["clean"] else "FAIL"
        print(
            f"{mark} {r['case']:38s} {r['entry']:17s} {r['seconds']:5.1f}s "
            f"{'' if r['clean'] else '; '.join(r['problems'])[:160]}",
            flush=True,
        )


# -- figures and the status file ------------------------------------------------------------------
def figures(results: list[dict[str, Any]]) -> list[tuple[int, str, int, int, int, int]]:
    """Per class: (class, name, cases, cases clean on every entry point, runs, runs clean)."""
    runs: Counter = Counter()
    clean: Counter = Counter()
    cases: dict[int, dict[str, bool]] = defaultdict(dict)
    for r in results:
        runs[r["cls"]] += 1
        clean[r["cls"]] += bool(r["clean"])
        cases[r["cls"]][r["case"]] = cases[r["cls"]].get(r["case"], True) and r["clean"]
    return [
        (c, CLASS_NAMES.get(c, "?"), len(cases[c]), sum(cases[c].values()), runs[c], clean[c])
        for c in sorted(runs)
    ]


def figures_text(results: list[dict[str, Any]]) -> str:
    lines = [f"{'class':<38s} {'cases':>6s} {'clean':>6s} {'runs':>6s} {'clean':>6s}"]
    totals = [0, 0, 0, 0]
    for c, name, n_cases, ok_cases, n_runs, ok_runs in figures(results):
        lines.append(f"{c:>2d} {name:<35s} {n_cases:>6d} {ok_cases:>6d} {n_runs:>6d} {ok_runs:>6d}")
        totals = [a + b for a, b in zip(totals, (n_cases, ok_cases, n_runs, ok_runs), strict=True)]
    lines.append(f"   {'all':<35s} {totals[0]:>6d} {totals[1]:>6d} {totals[2]:>6d} {totals[3]:>6d}")
    lines.append("(a case is clean when every entry point it runs through handles it cleanly;")
    lines.append(" runs = case x entry point)")
    return "\n".join(lines)


def write_status(results: list[dict[str, Any]], path: Path, note: str = "") -> None:
    fails = [r for r in results if not r["clean"]]
    lines = [
        "# Hostile corpus: status",
        "",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. {note}".strip(),
        "Regenerate: `.venv/bin/python -m tests.hostile.make_corpus /tmp/c && "
        ".venv/bin/python -m tests.hostile.harness /tmp/c --status STATUS.md` "
        "(or `pytest tests/test_hostile_corpus.py`).",
        "",
        "## Figures per class",
        "",
        "```",
        figures_text(results),
        "```",
        "",
        f"## Not clean ({len(fails)})",
        "",
        "| case | class | entry point | outcome | area |",
        "|---|---|---|---|---|",
    ]
    for r in sorted(fails, key=lambda r: (r["owner"], r["cls"], r["case"], r["entry"])):
        what = "; ".join(r["problems"]).replace("|", "/")[:220]
        lines.append(f"| {r['case']} | {r['cls']} | {r['entry']} | {what} | {r['owner']} |")
    lines.append("")
    path.write_text("\n".join(lines))


def write_known_failures(results: list[dict[str, Any]], path: Path) -> None:
    """The strict-xfail list for tests/test_hostile_corpus.py, from a run's results."""
    lines = [
        '"""(case, entry point) pairs of the hostile corpus that are still not handled cleanly.',
        "",
        "Each is a strict xfail in tests/test_hostile_corpus.py with its class and what fails:",
        "when a fix makes one clean, its test errors (XPASS strict) until its line here is",
        "removed. Written by ``python -m tests.hostile.harness CORPUS --known-failures FILE``.",
        '"""',
        "",
        "KNOWN_FAILURES: dict[tuple[str, str], str] = {",
    ]
    for r in sorted(results, key=lambda r: (r["cls"], r["case"], r["entry"])):
        if r["clean"]:
            continue
        what = "; ".join(r["problems"])
        what = re.sub(r"/\S*/(\S+)", r"\1", "; ".join(r["problems"])).replace('"', "'")
        head = f'    ("{r["case"]}", "{r["entry"]}"): "class {r["cls"]}: '
        what = what.replace("\\", "/")
        lines.append(head + what[: max(10, 97 - len(head))] + '",')
    lines.append("}")
    if lines[-2].endswith("= {"):  # none: the form ruff format keeps
        lines[-2:] = [lines[-2] + "}"]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.hostile.harness")
    p.add_argument("corpus", type=Path)
    p.add_argument("--out", type=Path, help="results JSON")
    p.add_argument("--work", type=Path, help="scratch folder (default: CORPUS/../runs)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", nargs="*", help="case names (prefixes)")
    p.add_argument("--entry", nargs="*", help="entry points")
    p.add_argument("--status", type=Path, help="write the status table here")
    p.add_argument("--known-failures", type=Path, help="write the strict-xfail list here")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    cases = load_manifest(args.corpus)
    todo = [
        (c, e)
        for c, e in pairs(cases)
        if (not args.only or any(c["name"].startswith(o) for o in args.only))
        and (not args.entry or e in args.entry)
    ]
    work = args.work or args.corpus.parent / (args.corpus.name + "-runs")
    start = time.monotonic()
    results = run_all(args.corpus, work, todo, args.jobs, not args.quiet)
    print(figures_text(results))
    print(f"{len(results)} runs in {time.monotonic() - start:.0f} s")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    if args.status:
        write_status(results, args.status)
    if args.known_failures:
        write_known_failures(results, args.known_failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
