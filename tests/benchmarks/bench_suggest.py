"""Suggestions while labelling, on MNIST (../shared/data/mnist); every figure a median.

1. sim: the engine the Browser uses (core.quality.labelling.IncrementalKnn) labels MNIST's
   test set (10 000 digits) as a simulated labeller would, in "label next" order and in random
   order: a right suggestion costs 1 key (Enter), a wrong one 2 (the issue's measure; in the
   Browser a number key alone corrects). Suggestion accuracy on the last 100 labels after 100 /
   1 000 / 5 000 labels, the model's accuracy on the items not yet labelled, the core time of an
   update.
2. gui: the real window, Browser in "Label next" mode on a project of the test set: a simulated
   labeller presses Enter when the suggestion shown is right and the class's number key when not,
   10 items a second (faster than the 1-2 a second the lecture quotes), the worker updating
   behind. GUI time per item (the key press and everything the event loop then does), how many
   labels behind the suggestion shown was (0 = the worker kept up), heartbeat gaps.
3. big: a 100 000-item project (MNIST train + test + 30 000 train digits again, 28x28, 1 000
   labelled): time from opening the project in the Browser to the first suggestion shown, then
   20 s of typing at 10 keys a second while features are still read on the worker: the longest
   heartbeat gap (10 ms timer) and per-key GUI time. An idle run first gives the machine's own
   noise.

4. models: kNN against logistic regression on the same features after 100 / 1 000 / 5 000
   random labels of MNIST's test set: accuracy on the rest and the fit time.

Run: .venv/bin/python tests/benchmarks/bench_suggest.py [--mnist DIR] [--only sim,gui,big,models]
     [--opens N]  (big: the project opened N times, another opened in between; median)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The suggestions' child process (spawned) runs this file again as __mp_main__ before its job:
# it needs none of these, and the formats alone take ~1 s to import on a loaded machine (the
# app's own main module imports next to nothing)
if __name__ != "__mp_main__":
    from qbi_desktop.core.catalog import NewItem, open_project
    from qbi_desktop.core.formats import import_job
    from qbi_desktop.core.idx import read_idx, write_idx
    from qbi_desktop.core.jobs import run_job
    from qbi_desktop.core.quality.labelling import IncrementalKnn, queue_order


def _mnist(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    x = read_idx(folder / f"{part}-images-idx3-ubyte.gz")
    y = read_idx(folder / f"{part}-labels-idx1-ubyte.gz").astype(np.int64)
    return x, y


def _ms(values) -> str:
    values = list(values)
    if not values:
        return "n/a"
    return (
        f"median {1000 * statistics.median(values):.1f} ms, "
        f"p95 {1000 * float(np.percentile(values, 95)):.1f} ms, max {1000 * max(values):.1f} ms"
    )


# -- 1. the engine, simulated -------------------------------------------------------------------
def simulate(X, y_true, order: str, checkpoints=(100, 1000, 5000), seed=0):
    n = len(X)
    knn = IncrementalKnn.from_matrix(X, k=10)
    labels = np.full(n, -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    recent: deque[bool] = deque(maxlen=100)
    keys = labelled = 0
    figures: dict[int, tuple[float, float]] = {}
    update_s: list[float] = []
    random_order = rng.permutation(n)
    pos = 0
    suggested = np.full(n, -1)
    queue = random_order
    while labelled < n:
        t = time.perf_counter()
        run_job(knn.update_job(labels))
        todo = np.flatnonzero(labels < 0)
        if len(np.unique(labels[labels >= 0])) >= 2:
            P = knn.proba(todo, 10)
            suggested[todo] = P.argmax(axis=1)
            conf = P.max(axis=1)
        else:
            suggested[todo] = -1
            conf = np.zeros(len(todo))
        if order == "queue":
            queue = queue_order(todo, conf, 0.1, int(rng.integers(1 << 31)))
            pos = 0
        update_s.append(time.perf_counter() - t)
        # the labeller works on while the worker updates: 5 % of what is labelled, at least 10
        for _ in range(max(10, labelled // 20)):
            if labelled == n:
                break
            while labels[queue[pos]] >= 0:
                pos += 1
            row = int(queue[pos])
            right = suggested[row] == y_true[row]
            keys += 1 if right else 2
            recent.append(bool(right))
            labels[row] = y_true[row]
            labelled += 1
            if labelled in checkpoints:
                rest = np.flatnonzero(labels < 0)
                run_job(knn.update_job(labels))
                rest_acc = float(np.mean(knn.proba(rest, 10).argmax(axis=1) == y_true[rest]))
                figures[labelled] = (float(np.mean(recent)), rest_acc)
    return keys / n, figures, update_s


def bench_sim(mnist: Path) -> None:
    x, y = _mnist(mnist, "t10k")
    X = (x.reshape(len(x), -1) / 255.0).astype(np.float32)
    print("1. simulated labeller on MNIST test (10 000), the Browser's engine")
    for order in ("queue", "random"):
        t = time.perf_counter()
        keys, figures, update_s = simulate(X, y, order)
        print(
            f"   {order:6s}: {keys:.3f} key presses per digit; "
            f"whole run {time.perf_counter() - t:.1f} s"
        )
        for at, (recent, rest) in sorted(figures.items()):
            print(
                f"           after {at:5d} labels: suggestions right on the last 100 "
                f"{100 * recent:5.1f} %, model on the items left {100 * rest:5.1f} %"
            )
        print(f"           model update on the worker: {_ms(update_s)}")


def bench_models(mnist: Path) -> None:
    """kNN against logistic regression (suggest_models.LogisticModel) on the same pixel
    features: accuracy on the rest of MNIST's test set after n random labels, fit time."""
    from qbi_desktop.core.quality.suggest_models import LogisticModel

    x, y = _mnist(mnist, "t10k")
    X = (x.reshape(len(x), -1) / 255.0).astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    print("4. the two suggestion models on MNIST test, n random labels, accuracy on the rest")
    for n in (100, 1000, 5000):
        train, rest = order[:n], order[n:]
        labels = np.full(len(X), -1)
        labels[train] = y[train]
        knn = IncrementalKnn.from_matrix(X, k=10)
        t = time.perf_counter()
        run_job(knn.update_job(labels))
        knn_acc = float(np.mean(knn.proba(rest, 10).argmax(axis=1) == y[rest]))
        knn_s = time.perf_counter() - t
        model = LogisticModel()
        t = time.perf_counter()
        model.fit(train, X[train], y[train])
        fit_s = time.perf_counter() - t
        lr_acc = float(np.mean(model.proba(X[rest], 10).argmax(axis=1) == y[rest]))
        print(
            f"   {n:5d} labels: kNN {100 * knn_acc:5.1f} % ({knn_s:.1f} s for every item), "
            f"logistic regression {100 * lr_acc:5.1f} % (fit {fit_s:.1f} s)"
        )


# -- GUI helpers ----------------------------------------------------------------------------------
def _window():
    os.environ["QBI_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="qbi-bench-")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from qbi_desktop.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    for _ in range(20):
        app.processEvents()
    if FREEZE:
        from qbi_desktop.gui.app import freeze_startup_objects

        freeze_startup_objects()  # what the app does once start-up is over
    return app, window


#: --no-freeze: without the app's start-up gc.freeze - each full collection then walks the
#: ~130 000 objects of the window (70-100 ms of GUI CPU), a gap the app does not have
FREEZE = True


#: the GUI thread's own CPU time (s) in each heartbeat gap of the last _run_for
GAP_CPU = np.zeros(0)


def _run_for(app, seconds: float, every_s: float | None = None, act=None):
    """Run the event loop for ``seconds`` with a 10 ms heartbeat; call ``act`` every
    ``every_s`` (timed). Returns (heartbeat gaps, act durations); :data:`GAP_CPU` holds
    how much of each gap the GUI thread itself was on a CPU."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    global GAP_CPU
    ticks: list[float] = []
    cpus: list[float] = []
    acts: list[float] = []
    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(
        lambda: (ticks.append(time.perf_counter()), cpus.append(time.thread_time()))
    )
    keys = QTimer()
    keys.setTimerType(Qt.TimerType.PreciseTimer)

    def timed():
        t = time.perf_counter()
        go_on = act()
        acts.append(time.perf_counter() - t)
        if go_on is False:
            loop.quit()

    loop = QEventLoop()
    if act is not None:
        keys.setInterval(int(every_s * 1000))
        keys.timeout.connect(timed)
        keys.start()
    heartbeat.start()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    heartbeat.stop()
    keys.stop()
    GAP_CPU = np.diff(cpus)
    return np.diff(ticks), acts


def _wait(app, condition, timeout: float = 120.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise TimeoutError
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def _labeller(panel, suggest, truth: dict[int, int], given: list):
    """One simulated key press: Enter on a right suggestion, else the class's number key."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    def press():
        row = panel.table.currentIndex().row()
        if row < 0:
            return False
        item_id = panel.model.item_id(row)
        if panel.model.item(row)["label"] is not None:  # labelled already: the next row
            QTest.keyClick(panel.table, Qt.Key.Key_Down)
            return None
        want = truth[item_id]
        found = suggest.suggestion_for(item_id)
        right = found is not None and found[0] == str(want)
        key = Qt.Key.Key_Return if right else getattr(Qt.Key, f"Key_{want}")
        QTest.keyClick(panel.table, key)
        given.append(right)
        return None

    return press


# -- 2. the real window, simulated labeller -----------------------------------------------------
def bench_gui(mnist: Path, items: int = 1000) -> None:
    x, y = _mnist(mnist, "t10k")
    tmp = Path(tempfile.mkdtemp(prefix="qbi-suggest-"))
    npz = tmp / "test.npz"
    np.savez(npz, x_train=x)
    with open_project(tmp / "proj", create=True) as project:
        run_job(import_job(project, "npz", [npz]))
        ids = project.ids()
        # two labels of each class to start from (the model needs two classes)
        start = [int(np.flatnonzero(y == c)[j]) for c in range(10) for j in range(2)]
        for i in start:
            project.set_label([ids[i]], str(y[i]))
    truth = {ids[i]: int(y[i]) for i in range(len(ids))}
    app, window = _window()
    panel = window.panels["browser"]
    panel.open_project(tmp / "proj")
    panel.classes_edit.setText(", ".join(str(c) for c in range(10)))
    suggest = panel.suggestions
    _wait(app, lambda: suggest.table is not None and not suggest.table.pending)
    suggest.queue_box.click()
    panel.table.setFocus()
    given: list[bool] = []
    behind: list[int] = []
    press = _labeller(panel, suggest, truth, given)

    def act():
        if len(given) >= items:
            return False
        table = suggest.table
        before = len(given)
        press()
        if table is not None and len(given) > before:
            behind.append(20 + before - table.labelled)  # labels given since the model used
        return None

    gaps, acts = _run_for(app, items * 0.1 + 30, 0.1, act)
    print(
        f"2. simulated labeller in the real Browser ('Label next', MNIST test, {len(given)} items)"
    )
    print(f"   GUI time per item (key press and its edit): {_ms(acts)}")
    print(
        f"   suggestion shown was made {statistics.median(behind):.0f} labels behind (median), "
        f"p95 {np.percentile(behind, 95):.0f}: the worker keeps up at 10 items/s"
    )
    print(
        f"   suggestions right over the run: {100 * np.mean(given):.1f} %; "
        f"last 100: {100 * np.mean(given[-100:]):.1f} %"
    )
    print(
        f"   heartbeat gaps: median {1000 * np.median(gaps):.1f} ms, max {1000 * gaps.max():.1f} ms"
    )
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


# -- 3. a 100 000-item project --------------------------------------------------------------------
def _build_big(mnist: Path, folder: Path, n: int = 100_000, labelled: int = 1000) -> Path:
    xt, yt = _mnist(mnist, "train")
    xs, ys = _mnist(mnist, "t10k")
    x = np.concatenate([xt, xs, xt[: n - len(xt) - len(xs)]])
    y = np.concatenate([yt, ys, yt[: n - len(yt) - len(ys)]])
    write_idx(folder / "big-images-idx3-ubyte", x)
    project = open_project(folder / "p", create=True)
    rng = np.random.default_rng(0)
    given = set(rng.choice(n, labelled, replace=False).tolist())
    with project.transaction() as tx:
        cid = tx.add_container(folder / "big-images-idx3-ubyte", "idx", "", n)
        tx.add_items(
            [
                NewItem(
                    name=f"digit{i:06d}",
                    hash=f"{i:032x}",
                    container=cid,
                    index=i,
                    width=28,
                    height=28,
                    label=str(y[i]) if i in given else None,
                    split=("train", "val", "test")[i % 3],
                )
                for i in range(n)
            ]
        )
    project.close()
    return folder / "p"


def bench_big(mnist: Path, opens_n: int = 3) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qbi-suggest-big-"))
    t = time.perf_counter()
    root = _build_big(mnist, tmp)
    print(f"3. 100 000-item project (built in {time.perf_counter() - t:.1f} s, not a figure)")
    app, window = _window()
    idle, _ = _run_for(app, 3.0)
    print(f"   idle heartbeat (machine noise): max gap {1000 * idle.max():.1f} ms")
    panel = window.panels["browser"]
    suggest = panel.suggestions
    # another, small project to switch to between the opens (each open starts afresh)
    other = tmp / "other"
    with open_project(other, create=True) as project:
        np.savez(tmp / "other.npz", x_train=np.zeros((20, 8, 8), np.uint8))
        run_job(import_job(project, "npz", [tmp / "other.npz"]))
    firsts, opens = [], []
    for k in range(opens_n):
        if k:
            panel.open_project(other)
            _wait(app, lambda: suggest.table is not None)
            _run_for(app, 1.0)
        t0 = time.perf_counter()
        panel.open_project(root)
        opens.append(time.perf_counter() - t0)
        _wait(app, lambda: suggest.first_shown_at is not None)
        firsts.append(suggest.first_shown_at - t0)
    print(
        f"   (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)\n"
        f"   open project in the Browser: median {statistics.median(opens):.2f} s; first "
        f"suggestions shown after the open began: median {statistics.median(firsts):.2f} s of "
        f"{len(firsts)} opens ({', '.join(f'{f:.2f}' for f in firsts)} s; the first open reads "
        "the features of the labelled and visible items, later ones find them in the cache)"
    )
    print(f"   items still without features then: {suggest.table.pending:,}")
    panel.classes_edit.setText(", ".join(str(c) for c in range(10)))
    suggest.queue_box.click()
    panel.table.setFocus()
    xs = np.concatenate([read_idx(mnist / "train-labels-idx1-ubyte.gz")])
    truth_all = np.concatenate([xs, read_idx(mnist / "t10k-labels-idx1-ubyte.gz"), xs[:30000]])
    with open_project(root) as project:
        ids = np.sort(project.id_array())
    truth = {int(i): int(truth_all[n]) for n, i in enumerate(ids)}
    given: list[bool] = []
    press = _labeller(panel, suggest, truth, given)
    cpu = time.thread_time()
    gaps, acts = _run_for(app, 20.0, 0.1, press)
    cpu = time.thread_time() - cpu
    print(f"   20 s of typing at 10 keys/s ({len(given)} labels) while the worker reads features:")
    print(f"     per key GUI time: {_ms(acts)}")
    print(f"     GUI thread CPU: {1000 * cpu / max(1, len(given)):.1f} ms per label")
    print(
        f"     heartbeat gaps: median {1000 * np.median(gaps):.1f} ms, "
        f"p95 {1000 * np.percentile(gaps, 95):.1f} ms, max {1000 * gaps.max():.1f} ms, "
        f"{int((gaps > 0.05).sum())} gap(s) over 50 ms (load average {os.getloadavg()[0]:.1f})"
    )
    late = gaps > 0.05
    if late.any():
        # the GUI thread's own work in the late gaps, apart from waiting for a core
        worst = int(np.argmax(np.where(late, GAP_CPU, -1)))
        print(
            f"     GUI thread on a CPU in the gaps over 50 ms: {1000 * GAP_CPU[late].sum():.0f} "
            f"of {1000 * gaps[late].sum():.0f} ms; most in one gap {1000 * GAP_CPU[worst]:.0f} "
            f"ms of {1000 * gaps[worst]:.0f} ms"
        )
    print(
        f"     features still to read after: {suggest.table.pending:,}; updates {suggest.updates}"
    )
    window.tasks.cancel_all()
    window.tasks.wait(5000)
    window.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    ap.add_argument("--only", default="sim,gui,big,models")
    ap.add_argument("--items", type=int, default=1000, help="items labelled in the gui run")
    ap.add_argument("--opens", type=int, default=3, help="opens of the big project timed")
    ap.add_argument("--no-freeze", action="store_true", help="without the start-up gc.freeze")
    args = ap.parse_args()
    global FREEZE
    FREEZE = not args.no_freeze
    parts = args.only.split(",")
    if "sim" in parts:
        bench_sim(args.mnist)
    if "gui" in parts:
        bench_gui(args.mnist, args.items)
    if "big" in parts:
        bench_big(args.mnist, args.opens)
    if "models" in parts:
        bench_models(args.mnist)


if __name__ == "__main__":
    main()
