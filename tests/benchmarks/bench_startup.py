"""Start-up time: a new process until the demo's first frame is drawn in a real window.

Run: ``.venv/bin/python tests/benchmarks/bench_startup.py [--runs N]`` (re-runs itself under
Xvfb when there is no display, so the window is a real X11 one).

* **cold**: a fresh settings folder each run (first-start defaults, no saved layout, the demo
  copied into the new cache folder as an installation that made it once would have it), and
  the page cache of the app's files dropped where the kernel allows it without root
  (``posix_fadvise(DONTNEED)`` on the venv's packages, the source tree and the demo files).
* **warm**: the same settings folder again, files in the page cache: the everyday start.

The time runs from just before the process is started to the moment the app prints
``ready`` (``QBI_DESKTOP_REPORT_READY``: after the first document's frame was painted).
Prints medians of N runs (default 5), each run's figure, and the load average before and
after, since the machine is shared. Targets (issue 13): cold <= 3 s, warm <= 2 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"cold": 3.0, "warm": 2.0}


def _ensure_display() -> None:
    if os.environ.get("DISPLAY") or os.environ.get("QBI_BENCH_UNDER_XVFB"):
        return
    if shutil.which("xvfb-run") is None:
        sys.exit("bench_startup needs a display or xvfb-run (apt-get install xvfb)")
    env = dict(os.environ, QBI_BENCH_UNDER_XVFB="1", QT_QPA_PLATFORM="xcb")
    command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv]
    sys.exit(subprocess.call(command, env=env))


def drop_page_cache(roots: list[Path]) -> int:
    """Ask the kernel to forget the cached pages of every file under ``roots``; the number of
    files it was asked for (0 where posix_fadvise is missing)."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    count = 0
    for root in roots:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                try:
                    fd = os.open(os.path.join(folder, name), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    count += 1
                except OSError:
                    pass
                finally:
                    os.close(fd)
    return count


def start_once(home: Path) -> tuple[float, float, float, float]:
    """Seconds from process start to the demo's first frame drawn, to the job panels built,
    the CPU seconds the app had used at its first frame and in the whole run (CPU time is far
    less sensitive to a loaded machine than wall time)."""
    env = dict(os.environ, QBI_DESKTOP_HOME=str(home), QBI_DESKTOP_REPORT_READY="1")
    env["PYTHONPATH"] = str(REPO)
    start = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "qbi_desktop", "--demo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(timeout=180)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - start_once.cpu_before
    start_once.cpu_before += cpu
    stamps = {x.split()[0]: x.split()[1:] for x in out.splitlines() if x[:6] in STAMPS}
    if "ready" not in stamps:
        raise SystemExit(f"the app did not report ready:\n{out}\n{err}")
    ready = stamps["ready"]
    panels = float(stamps["panels"][0]) if "panels" in stamps else float("nan")
    cpu_first = float(ready[1]) if len(ready) > 1 else float("nan")
    return float(ready[0]) - start, panels - start, cpu_first, cpu


start_once.cpu_before = 0.0
STAMPS = ("ready ", "panels")


def report(name: str, runs: list[tuple[float, float, float, float]]) -> float:
    first, panels, cpu_first, cpu = ([r[i] for r in runs] for i in range(4))
    print(f"  first frame          median {statistics.median(first):.2f} s   runs " + _list(first))
    print(
        f"  panels built         median {statistics.median(panels):.2f} s   runs " + _list(panels)
    )
    print(
        f"  CPU at first frame   median {statistics.median(cpu_first):.2f} s   runs "
        + _list(cpu_first)
    )
    print(f"  CPU whole run        median {statistics.median(cpu):.2f} s   runs " + _list(cpu))
    return statistics.median(first)


def _list(values) -> str:
    return " ".join(f"{v:.2f}" for v in values)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    _ensure_display()
    scratch = Path(tempfile.mkdtemp(prefix="qbi-bench-startup-"))
    try:
        print(f"load average before: {load()}   (2 cores shared)")
        # One start makes the demo (the simulator, once per installation): not a start-up cost.
        seed_home = scratch / "seed"
        first = start_once(seed_home)[0]
        demo_cache = seed_home / "cache"
        print(f"very first start (simulates and caches the demo): {first:.2f} s")

        packages = [Path(sysconfig.get_paths()["purelib"]), REPO / "qbi_desktop"]
        cold = []
        for run in range(args.runs):
            home = scratch / f"cold{run}"
            shutil.copytree(demo_cache, home / "cache")
            dropped = drop_page_cache([*packages, home / "cache"])
            cold.append(start_once(home))
        print(f"cold start (new settings folder, page cache of {dropped} files dropped):")
        medians = {"cold": report("cold", cold)}

        home = scratch / "warm"
        shutil.copytree(demo_cache, home / "cache")
        start_once(home)  # settings written, files cached
        warm = [start_once(home) for _ in range(args.runs)]
        print("warm start (same settings folder, files in the page cache):")
        medians["warm"] = report("warm", warm)
        print(f"load average after: {load()}")
        for name, value in medians.items():
            verdict = "ok" if value <= TARGETS[name] else "OVER"
            print(f"target first frame {name} <= {TARGETS[name]:.0f} s: {verdict} ({value:.2f} s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
