"""The hostile corpus's judge: whether one (case, entry point) run ended *clean* (see
:func:`judge`). The runs themselves, the figures and the status file: harness.py."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import sqlite3
from pathlib import Path
from typing import Any

ADDRESS_SPACE = 4 << 30
TIME_LIMIT = 60.0
# Whose area a failing entry point is (for the status table).
OWNER = {
    "viewer": "storage (core/io)",
    "window": "storage / annotate",
    "import": "formats",
    "cli-import": "formats",
    "thumbnails": "storage",
    "journal": "annotate",
    "cli-export": "storage / formats",
    "roundtrip-export": "formats",
    "cli-detect-spots": "spots",
    "cli-augment": "formats (augment)",
    "cli-baseline": "formats (idx/arrays)",
    "cli-simulate": "formats (jsonfile)",
    "window-import": "formats (browser import)",
    "window-project": "storage (catalog)",
}
RAW_EXCEPTION = re.compile(r"(failed: |^)[A-Z]\w*(Error|Exception|Warning)\b: ", re.M)


def tree(folder: Path) -> dict[str, list[int]]:
    out = {}
    if not folder.exists():
        return out
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[os.path.relpath(p, folder)] = [st.st_size, int(st.st_mtime_ns)]
    return out


def _names_file(message: str, case: dict[str, Any]) -> bool:
    low = message.lower()
    return any(n.lower() in low for n in case["names"])


def judge(
    case: dict[str, Any],
    entry: str,
    work: Path,
    corpus: Path,
    status: int | None,
    seconds: float,
    timed_out: bool,
) -> dict[str, Any]:
    expect = case.get("expect_by_entry", {}).get(entry, case["expect"])
    problems: list[str] = []
    result: dict[str, Any] = {}
    if (work / "result.json").exists():
        try:
            result = json.loads((work / "result.json").read_text())
        except ValueError:
            result = {}
    stdout = _read(work / "stdout")
    stderr = _read(work / "stderr")
    state = result.get("status")
    message = result.get("message") or ""
    if entry.startswith("cli-") or (entry == "roundtrip-export" and "rc" in result):
        message = (stderr.strip() + "\n" + stdout.strip()).strip()
    if timed_out:
        problems.append(f"hang: still running after {TIME_LIMIT:.0f} s")
    elif not result:
        if status is not None and os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            problems.append(f"killed by {sig} (memory cap {ADDRESS_SPACE >> 30} GiB)")
        else:
            problems.append("died without a result")
    else:
        if "Traceback (most recent call last)" in stderr:
            problems.append("Traceback on stderr")
        if state == "error":
            kind = result.get("exc_type", "?")
            problems.append(
                f"{'exit code ' + str(result['rc']) if 'rc' in result else kind}: "
                f"{_first_line(message if 'rc' not in result else stderr)}"
            )
        elif state == "refused":
            if RAW_EXCEPTION.search(message):
                problems.append(f"raw exception text in the message: {_first_line(message)}")
            if not _names_file(message, case):
                problems.append(
                    f"message does not name {' or '.join(case['names'])}: {_first_line(message)}"
                )
            if expect == "accept":
                problems.append(f"refused a good input: {_first_line(message)}")
        elif state == "accepted" and expect == "refuse":
            problems.append("silently accepted")
        try:
            problems += _checks(case, entry, work, corpus, result, state, stdout + stderr)
        except Exception as exc:  # noqa: BLE001 - a judge bug must show, not stop the run
            problems.append(f"harness could not check the result: {type(exc).__name__}: {exc}")
    for line in stderr.splitlines():  # the GUI logs a crashed task with its traceback
        if "crashed:" in line and "task" in line:
            problems.append(f"a task crashed: {line.strip()[:120]}")
            break
    return {
        "case": case["name"],
        "cls": case["cls"],
        "kind": case["kind"],
        "entry": entry,
        "expect": expect,
        "status": state or ("timeout" if timed_out else "killed"),
        "clean": not problems,
        "problems": problems,
        "message": _first_line(message, 300),
        "seconds": round(seconds, 2),
        "owner": OWNER.get(entry, "?"),
    }


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-20000:]
    except OSError:
        return ""


def _first_line(text: str, n: int = 140) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "(no message)"
    if lines[0].startswith("Traceback"):
        return lines[-1][:n]
    return lines[0][:n]


def _checks(case, entry, work, corpus, result, state, output) -> list[str]:
    problems: list[str] = []
    check = case.get("check", {})
    inp = work / "in"
    # nothing written outside the place the user chose
    if not inp.exists():
        return ["the run's input folder vanished while it ran"]
    before = json.loads((work / "before.json").read_text())
    after = tree(inp)
    allowed = ("project/", "out/") if case["kind"] == "project" else ()
    if check.get("out"):
        allowed += (check["out"],)
    allowed += tuple(check.get("allow", ()))
    if case["kind"] == "journal":  # the mask and its journal beside the image: the app's place
        allowed += ("images/radiograph.mask.tif",)
    changed = [
        p
        for p in set(after) | set(before)
        if before.get(p) != after.get(p)
        and not p.startswith(allowed)
        and not (case["kind"] == "project" and p.startswith(("src/", "project")))
    ]
    if changed:
        problems.append(f"wrote into the input folder: {', '.join(sorted(changed)[:3])}")
    original = corpus / case["name"]
    marker = work / "corpus-before.json"
    was = json.loads(marker.read_text()) if marker.exists() else {}
    now = tree(original)
    if now != was:
        changed = sorted(p for p in set(now) | set(was) if now.get(p) != was.get(p))
        problems.append(
            f"wrote into the place an absolute path named: {original.name}/{changed[0]}"
        )
        for rel in set(now) - set(was):  # put the corpus back for later runs
            (original / rel).unlink(missing_ok=True)
    # a big file left in the user folders (decode caches)
    for p, (size, _m) in tree(work / "home").items():
        if size >= 1 << 20:
            problems.append(f"left {size >> 20} MB in the user folders: {p}")
    # half-written projects and outputs
    project = inp / case["source"] if case["kind"] == "project" else work / "project"
    problems += _leftovers(project, {p for p in before if p.startswith("project/masks/")})
    out = work / "out" if not check.get("out") else inp / check["out"]
    resumable = entry == "cli-augment" and (out / "manifest.jsonl").exists()  # resumes by design
    if state != "accepted" and out.exists() and any(out.iterdir()) and entry != "thumbnails":
        if not check.get("out") and not resumable:
            problems.append("a refused run left a half-written output folder")
    hidden = [
        p.name
        for p in (out.parent.iterdir() if out.parent.is_dir() else [])
        if p.name.startswith(".export") or p.name.endswith(".partial")
    ]
    if hidden:
        problems.append(f"hidden leftovers next to the output: {', '.join(hidden[:3])}")
    if check.get("keep_catalog") and not any((inp / case["source"]).glob("*.sqlite")):
        problems.append("the broken catalog file was not kept")
    # the shape the viewer shows
    if check.get("shape") and entry in ("viewer", "window") and result.get("shape"):
        if list(result["shape"][:2]) != list(check["shape"]):
            problems.append(
                f"opened as {result['shape']} x {result.get('n_slices')} slices, "
                f"not {check['shape']}"
            )
    if check.get("field") and state == "refused":
        if check["field"] not in (result.get("message") or "") + output:
            problems.append(f"the message does not name the field {check['field']!r}")
    warn_here = entry in check.get("warn_entries", [entry])
    if check.get("warn_names") and state == "accepted" and warn_here:
        if not any(n in (result.get("message") or "") + output for n in check["warn_names"]):
            problems.append(f"no message naming {check['warn_names'][0]}")
    if entry == "window" and state == "accepted" and result.get("errors"):
        for said in result["errors"]:
            if "not enough memory" in said:
                problems.append(f"MemoryError in a task: {said[:100]}")
            elif not _names_file(said, case) and "/" not in said:
                problems.append(f"a message that names no file: {said[:100]}")
    if check.get("message_not"):
        for bad in check["message_not"]:
            if bad in (result.get("message") or "") + output:
                problems.append(f"misleading message: {bad!r}")
    # injection
    if check.get("no_escape") and "\x1b" in output:
        problems.append("a terminal escape sequence from a label reached the terminal")
    if check.get("csv_formula") and state == "accepted":
        problems += _formula_cells(out)
    # references outside an archive or the case's folder
    if state == "accepted":
        secret = (corpus / "host" / "secret.png").read_bytes()
        for item in result.get("items", []):
            if "host" in Path(item).parts or Path(item).name == "secret.png":
                problems.append(f"an item references a file outside: {item}")
                break
        if out.exists():
            for p in out.rglob("*"):
                if p.is_file() and p.stat().st_size == len(secret) and p.read_bytes() == secret:
                    problems.append(f"the export copied a file from outside: {p.name}")
                    break
    if entry == "journal" and state == "accepted":
        saved, default = result.get("saved"), result.get("default")
        if saved and default and Path(saved).resolve() != Path(default).resolve():
            problems.append(f"the mask was saved to {saved}, not beside the image")
        journal_at = result.get("journal_at")
        if journal_at and Path(journal_at).resolve().parent not in (
            Path(default).resolve().parent,
            (work / "home" / "recovery").resolve(),
        ):
            problems.append(f"the journal is written at {journal_at}")
    if check.get("masks_nonempty") and state == "accepted" and "mask_pixels" in result:
        if not result["mask_pixels"] or not all(result["mask_pixels"]):
            problems.append(
                f"accepted, but an annotated item's mask is empty or missing "
                f"(mask pixels per item: {result['mask_pixels'][:6]})"
            )
    if entry == "thumbnails" and state == "accepted":
        if result.get("thumbnails", 0) < result.get("n_items", 0):
            problems.append(
                f"{result['n_items'] - result['thumbnails']} item(s) silently left "
                "without a thumbnail"
            )
    if entry == "window" and result.get("alive") is False:
        problems.append("the window is gone")
    for where in (corpus / "host", work / "host"):
        extra = [p for p in where.iterdir() if p.name != "secret.png"] if where.is_dir() else []
        if extra:
            problems.append(f"a file appeared outside the chosen place: {where / extra[0].name}")
        for p in extra:  # put the shared folder back, so later runs are judged on their own
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    return problems


def _leftovers(project: Path, had: set[str]) -> list[str]:
    """Orphan mask files (not there before: ``had``), extraction folders no item uses,
    temporary files in a project."""

    if not project.exists():
        return []
    problems = []
    temp = [
        p.name
        for p in project.rglob("*")
        if p.name.endswith((".partial", ".tmp")) or ".tmp" in p.name or p.name.startswith(".export")
    ]
    if temp:
        problems.append(f"temporary files left in the project: {', '.join(temp[:3])}")
    catalog = project / "catalog.sqlite"
    if not catalog.exists() or catalog.stat().st_size == 0:
        return problems
    try:
        con = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
        try:
            masks = {r[0] for r in con.execute("SELECT path FROM masks")}
            items = [r[0] for r in con.execute("SELECT path FROM items WHERE path IS NOT NULL")]
            containers = [r[0] for r in con.execute("SELECT path FROM containers")]
        finally:
            con.close()
    except sqlite3.Error:
        return problems
    mask_dir = project / "masks"
    if mask_dir.exists():
        orphans = [
            p
            for p in mask_dir.iterdir()
            if f"masks/{p.name}" not in masks
            and p.name not in masks
            and f"project/masks/{p.name}" not in had
        ]
        if orphans:
            problems.append(f"{len(orphans)} orphan mask file(s) in masks/")
    sources = project / "sources"
    if sources.exists():
        used = " ".join(items + containers)
        unused = [p.name for p in sources.iterdir() if f"sources/{p.name}" not in used]
        if unused:
            problems.append(f"extracted folder(s) no item uses left in sources/: {unused[0]}")
    return problems


def _formula_cells(out: Path) -> list[str]:
    for path in sorted(out.rglob("*.csv")) if out.exists() else []:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.reader(f):
                for cell in row:
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                        try:
                            float(cell)
                        except ValueError:
                            return [f"{path.name}: cell {cell[:30]!r} is a spreadsheet formula"]
    return []
