"""Augmentation benchmark: preview latency, per-core throughput against albumentations and Keras,
and scaling with worker processes.

Run: ``.venv/bin/python tests/benchmarks/bench_augment.py [--quick] [--only throughput ...]``

Throughput is measured with the default settings (resampler 'fast': OpenCV where installed) and
with the exact resampler (what the packaged app, which leaves OpenCV out, runs).

Peers are measured side by side in the same run, interleaved round by round so that load from
other processes hits both alike (tests/benchmarks/sidebyside.py), in a new random order each
round (see :func:`run_shuffled`); the figures are medians with their range, each ratio the
median of per-round ratios, with the load average recorded.
``--busy 2`` adds two busy-looping processes for the throughput part (a reproducible load).
What a mask and boxes add to a sample is shown beside its floor: a bare OpenCV nearest warp of
the same mask, timed in the same rounds (no mask can be warped for less per pixel here).
Peers are not project dependencies: ``pip install "albumentations==2.0.8"`` (and, for
Keras, ``pip install keras torch`` with ``KERAS_BACKEND=torch``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sidebyside import SideBySide, busy, load_text  # noqa: E402  (this folder)

from qbi_desktop.core.augment import Pipeline, cvwarp, preview  # noqa: E402

PEER_INSTALL = '.venv/bin/pip install "albumentations==2.0.8" (benchmark only, not a dependency)'

SIDE = 512
OPTS = dict(
    rotation_range=20,
    width_shift_range=0.1,
    height_shift_range=0.1,
    zoom_range=0.1,
    shear_range=10,
    horizontal_flip=True,
)


def ours_pipeline(noise_std: float, resampler: str = "fast") -> Pipeline:
    return Pipeline.from_options(
        seed=1, gaussian_noise={"std_range": [0.0, noise_std]}, resampler=resampler, **OPTS
    )


def median_ms(ts: list[float]) -> float:
    return float(np.median(ts) * 1e3)


def bench_preview(reps: int) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
    mask = (rng.random((SIDE, SIDE)) > 0.999).astype(np.uint8)
    p = ours_pipeline(300.0)
    ts = []
    for k in range(reps + 2):
        t = time.perf_counter()
        preview(img, mask, p, n=8, seed=k)
        ts.append(time.perf_counter() - t)
    print(
        f"preview: 8 samples of a {SIDE}^2 uint16 image + mask: median {median_ms(ts[2:]):.1f} "
        f"ms (target <= 50)"
    )


def _peers(data: dict[str, np.ndarray], bboxes: list) -> dict:
    """albumentations and Keras workloads, where installed (not project dependencies), on the
    arrays in ``data`` (read at each call: see :func:`fresh_inputs`)."""
    runners: dict[str, Callable[[], object]] = {}
    try:
        import cv2

        cv2.setNumThreads(1)  # per-core comparison
        import albumentations as A

        affine = A.Affine(
            rotate=(-20, 20),
            translate_percent=(-0.1, 0.1),
            scale=(0.9, 1.1),
            shear=(-10, 10),
            # the same fill as ours and Keras' default ('nearest' = replicate the edge)
            border_mode=cv2.BORDER_REPLICATE,
            p=1,
        )
        geo = A.Compose([affine, A.HorizontalFlip(p=0.5)])
        noisy = A.Compose([affine, A.HorizontalFlip(p=0.5), A.GaussNoise(p=1)])
        boxed = A.Compose(
            [affine, A.HorizontalFlip(p=0.5), A.GaussNoise(p=1)],
            bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        )
        runners["albumentations uint8 affine+flip"] = lambda: geo(image=data["u8"])
        runners["albumentations uint8 +noise"] = lambda: noisy(image=data["u8"])
        runners["albumentations float32 +noise"] = lambda: noisy(image=data["f32"])
        runners["albumentations uint8 +noise +mask+boxes"] = lambda: boxed(
            image=data["u8"], mask=data["mask"], bboxes=bboxes, labels=[1] * len(bboxes)
        )
        print(
            f"albumentations {A.__version__} (it has no uint16 noise path: uint16 is compared "
            "with its float32)"
        )
    except ImportError:
        print(f"albumentations not installed (for the comparison: {PEER_INSTALL})")
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import warnings

        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        gen = ImageDataGenerator(**OPTS)
        runners["keras uint8 affine+flip"] = lambda: gen.apply_transform(
            data["u8c"], gen.get_random_transform(data["u8c"].shape)
        )
    except Exception:  # noqa: BLE001 - Keras missing or without a backend: skip it
        pass
    return runners


MASK_FLOOR = "floor: OpenCV's nearest warp of the mask alone"


def _mask_warp_floor(data: dict[str, np.ndarray]) -> Callable[[], object] | None:
    """The least a mask can add to a sample: one bare ``cv2.warpAffine`` (nearest, constant
    border, one thread) of ``data["mask"]`` through an affine of the workloads' ranges, with
    none of our checks around it; None without OpenCV."""
    try:
        import cv2
    except ImportError:
        return None
    rng = np.random.default_rng(3)
    mats = []
    for _ in range(64):  # rotation, shear, zoom and shift drawn from OPTS' ranges
        rot, shear = np.deg2rad(rng.uniform(-20, 20)), np.deg2rad(rng.uniform(-10, 10))
        zoom, shift = rng.uniform(0.9, 1.1, 2), rng.uniform(-0.1, 0.1, 2) * SIDE
        a = np.array([[np.cos(rot), -np.sin(rot + shear)], [np.sin(rot), np.cos(rot + shear)]])
        a = a * zoom
        centre = np.array([SIDE / 2, SIDE / 2])
        mats.append(np.hstack([a, (centre - a @ centre + shift)[:, None]]))
    calls = iter(range(10**9))
    flags = cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    return lambda: cv2.warpAffine(
        data["mask"], mats[next(calls) % 64], (SIDE, SIDE), flags=flags,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip


def thread_seconds(f: Callable[[], object]) -> float:
    """The CPU time this thread spent in ``f()``: on a shared machine wall time mostly measures
    the other processes (both sides run single-threaded, so this is their per-core cost)."""
    t0 = time.thread_time()
    f()
    return time.thread_time() - t0


def run_shuffled(
    sbs: SideBySide,
    workloads: dict[str, Callable[[], object]],
    rounds: int,
    warmup: int,
    timer: Callable[[Callable[[], object]], float] | None,
    seed: int = 0,
    prepare: Callable[[str], None] | None = None,
) -> None:
    """:meth:`SideBySide.run` with the workloads in a new random order every round.

    Rotating a fixed order gives every workload the same predecessor in every round, and what
    ran just before decides how much of a sample's data and code is still in cache: ours
    '+noise' always followed ours 'affine+flip' on the same image (warm), 'albumentations
    affine+flip' always followed our exact resampler (cold), so a ratio measured partly which
    workloads happened to be neighbours (up to 15 % on one workload here). A random order per
    round spreads the predecessors evenly. ``prepare(name)`` runs untimed before each call.
    """
    rng = np.random.default_rng(seed)
    names = list(workloads)
    for name in names:  # the summary lists them in this order
        sbs.times.setdefault(name, {})
    for _ in range(warmup):
        for f in workloads.values():
            f()
    for r in range(rounds):
        before = os.getloadavg()[0]
        for k in rng.permutation(len(names)):
            f = workloads[names[k]]
            if prepare is not None:
                prepare(names[k])
            if timer is None:
                t0 = time.perf_counter()
                f()
                seconds = time.perf_counter() - t0
            else:
                seconds = timer(f)
            sbs.record(names[k], r, seconds)
        sbs.note_load(before)


def fresh_inputs(base: dict[str, np.ndarray], data: dict[str, np.ndarray], inputs: str):
    """The ``prepare`` of :func:`run_shuffled` for ``--inputs``.

    'fresh' (default): before each call its workload's input arrays are copied anew (untimed),
    as a batch job reads and decodes each item just before augmenting it; every workload then
    starts with its inputs in cache. 'shared': all workloads read the same arrays, so whether a
    workload's inputs are still in cache depends on what ran before it: the uint8 image is used
    by seven workloads (often cached), the mask by two (nearly always evicted), which charges a
    mask with cache misses that an image is mostly spared.
    """
    if inputs == "shared":
        return None

    def prepare(name: str) -> None:
        if "float32" in name:
            keys = ["f32"]
        elif "uint16" in name:
            keys = ["u16"]
        else:
            keys = ["u8c"] if name.startswith("keras") else ["u8"]
        if "mask" in name:
            keys.append("mask")
        for key in keys:
            data[key] = base[key].copy()

    return prepare


def bench_throughput(reps: int, busy_procs: int, clock: str = "cpu", inputs: str = "fresh") -> None:
    """Per-core throughput on the issue's workloads, ours with the default settings (the
    'fast' resampler) side by side with albumentations, interleaved round by round.

    Also shown: ours with the exact resampler (what a user without OpenCV gets) and what masks
    and boxes add to a sample (ours with / ours without, per round).
    """
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    u16 = (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
    f32 = u16.astype(np.float32) / 65535
    mask = (rng.random((SIDE, SIDE)) > 0.99).astype(np.uint8)
    base = {"u8": u8, "u16": u16, "f32": f32, "mask": mask}
    base["u8c"] = u8[..., None].astype(np.float32)  # Keras' input
    d = dict(base)  # what each call reads (refreshed by fresh_inputs)
    bboxes = [[40.0, 50.0, 200.0, 220.0], [300.0, 310.0, 480.0, 470.0]]
    boxes = np.array([b + [1] for b in bboxes])
    counter = iter(range(10**9))
    geo8 = Pipeline.from_options(seed=1, **OPTS)
    p8, p16 = ours_pipeline(10.0), ours_pipeline(600.0)
    e8, e16 = ours_pipeline(10.0, "exact"), ours_pipeline(600.0, "exact")
    runners: dict[str, Callable[[], object]] = {
        "ours uint8 affine+flip": lambda: geo8.augment(d["u8"], copy_index=next(counter)),
        "ours uint8 +noise": lambda: p8.augment(d["u8"], copy_index=next(counter)),
        "ours uint16 +noise": lambda: p16.augment(d["u16"], copy_index=next(counter)),
        "ours uint8 +noise +mask+boxes": lambda: p8.augment(
            d["u8"], d["mask"], boxes, copy_index=next(counter)
        ),
        "ours uint8 +noise, exact resampler": lambda: e8.augment(d["u8"], copy_index=next(counter)),
        "ours uint16 +noise, exact resampler": lambda: e16.augment(
            d["u16"], copy_index=next(counter)
        ),
    }
    runners.update(_peers(d, bboxes))
    floor = _mask_warp_floor(d)
    if floor is not None:
        runners[MASK_FLOOR] = floor
    print(f"default resampler: {geo8.options['resampler']!r}, OpenCV used: {cvwarp.available()}")
    sbs = SideBySide(
        f"throughput per core, {SIDE}^2, one thread, {reps} interleaved rounds, "
        f"{busy_procs} busy processes started by the benchmark, "
        f"{'thread CPU' if clock == 'cpu' else 'wall'} time, {inputs} inputs"
    )
    timer = thread_seconds if clock == "cpu" else None
    with busy(busy_procs):
        run_shuffled(sbs, runners, reps, 2, timer, prepare=fresh_inputs(base, d, inputs))
    sbs.summary(per_second=True)
    alb = "albumentations"
    sbs.ratio(f"{alb} uint8 affine+flip", "ours uint8 affine+flip", "uint8 affine+flip", ">= 1.0")
    sbs.ratio(f"{alb} uint8 +noise", "ours uint8 +noise", "uint8 +noise", ">= 1.5")
    sbs.ratio(
        f"{alb} float32 +noise", "ours uint16 +noise", "uint16 +noise (alb float32)", ">= 1.5"
    )
    sbs.ratio(
        f"{alb} uint8 +noise +mask+boxes",
        "ours uint8 +noise +mask+boxes",
        "uint8 +noise +mask+boxes",
    )
    sbs.ratio(
        "ours uint8 +noise +mask+boxes",
        "ours uint8 +noise",
        "cost of mask+boxes, ours with / without",
        "<= 1.2",
    )
    with_, without = sbs.times["ours uint8 +noise +mask+boxes"], sbs.times["ours uint8 +noise"]
    added = sorted(with_[r] - without[r] for r in set(with_) & set(without))
    if added:  # what the mask and the boxes add, in time (the ratio also moves with the image's)
        print(
            f"  mask+boxes add {np.median(added) * 1e3:.2f} ms per sample (median of per-round "
            f"differences, range {added[0] * 1e3:.2f}..{added[-1] * 1e3:.2f})"
        )
    alone = sbs.times.get(MASK_FLOOR, {})
    best = sorted((without[r] + alone[r]) / without[r] for r in set(alone) & set(without))
    if best:  # what a mask would add if nothing but OpenCV's own warp of it were paid
        print(
            f"  {MASK_FLOOR}: {np.median(list(alone.values())) * 1e3:.2f} ms; ours without + "
            f"that, / ours without: {np.median(best):.2f}x (range {best[0]:.2f}..{best[-1]:.2f})"
        )
    sbs.ratio(
        f"{alb} uint8 +noise",
        "ours uint8 +noise, exact resampler",
        "uint8 +noise, exact resampler (no OpenCV)",
    )
    sbs.ratio(
        f"{alb} float32 +noise",
        "ours uint16 +noise, exact resampler",
        "uint16 +noise, exact resampler (no OpenCV)",
    )
    sbs.ratio("keras uint8 affine+flip", "ours uint8 affine+flip", "ours / Keras uint8 affine+flip")


def _work(n: int) -> float:
    rng = np.random.default_rng(2)
    img = (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
    p = ours_pipeline(600.0)
    t = time.perf_counter()
    for k in range(n):
        p.augment(img, item_index=os.getpid(), copy_index=k)
    return time.perf_counter() - t


def bench_scaling(n_images: int, rounds: int = 3) -> None:
    """Compute-only throughput with 1 and 2 warm worker processes, in alternating rounds (the
    speed-up is the median of per-round ratios: on a shared machine separate runs do not
    compare)."""
    ctx = multiprocessing.get_context("spawn")
    pools = {w: cf.ProcessPoolExecutor(w, mp_context=ctx) for w in (1, 2)}
    try:
        for workers, pool in pools.items():
            list(pool.map(_work, [2] * workers))  # start and warm the workers

        def run(workers: int) -> None:
            list(pools[workers].map(_work, [n_images // workers] * workers))

        sbs = SideBySide(
            f"scaling ({n_images} images of {SIDE}^2 uint16, compute only, warm pools), "
            f"{rounds} alternating rounds, wall time"
        )
        sbs.run({"1 worker": lambda: run(1), "2 workers": lambda: run(2)}, rounds, warmup=0)
    finally:
        for pool in pools.values():
            pool.shutdown()
    sbs.summary("s", 1.0)
    for name in ("1 worker", "2 workers"):
        print(f"  {name}: {n_images / sbs.median(name):.1f} images/s (median)")
    sbs.ratio("1 worker", "2 workers", "speed-up with 2 workers", ">= 1.7")


def bench_batch_job(n_items: int, rounds: int = 2) -> None:
    """End to end: folder of TIFFs -> K copies written + manifest, 1 vs 2 worker processes
    (process start-up included), in alternating rounds."""
    import tifffile

    from qbi_desktop.core.augment.batch import augment_dataset, open_source
    from qbi_desktop.core.jobs import run_job

    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for i in range(n_items):
            tifffile.imwrite(
                src / f"i{i:03d}.tif", (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
            )
        outputs = iter(range(10**6))

        def job(workers: int) -> None:
            out = Path(tmp) / f"o{next(outputs)}"
            run_job(
                augment_dataset(open_source(src), ours_pipeline(600.0), out, 4, workers=workers)
            )

        total = n_items * 4
        sbs = SideBySide(
            f"batch job ({n_items} items x 4 copies, TIFF in/out, incl. process start-up), "
            f"{rounds} alternating rounds, wall time"
        )
        sbs.run({"1 worker": lambda: job(1), "2 workers": lambda: job(2)}, rounds, warmup=0)
    sbs.summary("s", 1.0)
    for name in ("1 worker", "2 workers"):
        print(f"  {name}: {total / sbs.median(name):.1f} images/s (median)")
    sbs.ratio("1 worker", "2 workers", "speed-up with 2 workers")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--busy", type=int, default=0, help="busy processes during throughput")
    ap.add_argument("--reps", type=int, default=0, help="interleaved rounds of throughput")
    ap.add_argument(
        "--clock", choices=("cpu", "wall"), default="cpu", help="throughput: thread CPU or wall"
    )
    ap.add_argument(
        "--inputs",
        choices=("fresh", "shared"),
        default="fresh",
        help="throughput: inputs copied anew before each call, or shared by all calls",
    )
    ap.add_argument(
        "--only",
        choices=("preview", "throughput", "scaling", "batch"),
        action="append",
        help="run only these parts (repeatable)",
    )
    a = ap.parse_args()
    parts = set(a.only or ("preview", "throughput", "scaling", "batch"))
    print(load_text())
    if "preview" in parts:
        bench_preview(10 if a.quick else 30)
    if "throughput" in parts:
        bench_throughput(a.reps or (10 if a.quick else 40), a.busy, a.clock, a.inputs)
    if "scaling" in parts:
        bench_scaling(40 if a.quick else 200)
    if "batch" in parts:
        bench_batch_job(10 if a.quick else 40)


if __name__ == "__main__":
    main()
