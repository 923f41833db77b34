"""Augmentation benchmark: preview latency, per-core throughput against albumentations and Keras,
and scaling with worker processes.

Run: ``.venv/bin/python tests/benchmarks/bench_augment.py [--quick] [--only throughput ...]``

Throughput is measured for both of our resamplers: the exact one (the default) and the opt-in
OpenCV one (``resampler="opencv"``, when OpenCV is installed).

Peers are measured side by side in the same run, interleaved sample by sample so that load from
other processes hits both alike; the figures are medians (and the ratio of medians).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qbi_desktop.core.augment import Pipeline, preview  # noqa: E402

SIDE = 512
OPTS = dict(
    rotation_range=20,
    width_shift_range=0.1,
    height_shift_range=0.1,
    zoom_range=0.1,
    shear_range=10,
    horizontal_flip=True,
)


def ours_pipeline(noise_std: float, resampler: str = "exact") -> Pipeline:
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


def bench_throughput(reps: int) -> None:
    """Per-core throughput on affine + flip + Gaussian noise, side by side and interleaved.

    Besides the full pipelines, the geometry alone (ours: the pipeline without noise;
    albumentations: its ``Affine`` alone) shows where the time goes, and Keras is measured both
    as ``apply_transform`` alone (it has no noise option) and with the Gaussian noise a user adds
    in a ``preprocessing_function`` (``np.random.normal``), i.e. the same pipeline.
    """
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)
    u16 = (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
    f32 = u16.astype(np.float32) / 65535
    runners: dict[str, callable] = {}
    p8, p16 = ours_pipeline(10.0), ours_pipeline(600.0)
    g16 = Pipeline.from_options(seed=1, **OPTS)
    counter = iter(range(10**9))
    runners["ours uint8"] = lambda: p8.augment(u8, copy_index=next(counter))
    runners["ours uint16"] = lambda: p16.augment(u16, copy_index=next(counter))
    runners["ours uint16 geometry only"] = lambda: g16.augment(u16, copy_index=next(counter))
    try:  # the opt-in OpenCV resampler (pipeline option resampler="opencv")
        import cv2

        cv2.setNumThreads(1)  # per-core comparison
        c8, c16 = ours_pipeline(10.0, "opencv"), ours_pipeline(600.0, "opencv")
        runners["ours uint8 opencv"] = lambda: c8.augment(u8, copy_index=next(counter))
        runners["ours uint16 opencv"] = lambda: c16.augment(u16, copy_index=next(counter))
    except ImportError:
        pass
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
        t = A.Compose([affine, A.HorizontalFlip(p=0.5), A.GaussNoise(p=1)])
        ta = A.Compose([affine])
        runners["albumentations uint8"] = lambda: t(image=u8)
        runners["albumentations float32"] = lambda: t(image=f32)
        runners["albumentations f32 affine only"] = lambda: ta(image=f32)
        alb = A.__version__
    except ImportError:
        alb = None
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import warnings

        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from keras.src.legacy.preprocessing.image import ImageDataGenerator

        gen = ImageDataGenerator(**OPTS)
        u8c, u16c = u8[..., None].astype(np.float32), u16[..., None].astype(np.float32)
        nrng = np.random.default_rng(5)

        def keras_noise(x: np.ndarray, std: float) -> np.ndarray:
            y = gen.apply_transform(x, gen.get_random_transform(x.shape))
            return y + nrng.normal(0.0, std * nrng.random(), y.shape).astype(np.float32)

        runners["keras uint8"] = lambda: gen.apply_transform(
            u8c, gen.get_random_transform(u8c.shape)
        )
        runners["keras uint16"] = lambda: gen.apply_transform(
            u16c, gen.get_random_transform(u16c.shape)
        )
        runners["keras uint16 + noise"] = lambda: keras_noise(u16c, 600.0)
    except ImportError:
        pass
    times: dict[str, list[float]] = {k: [] for k in runners}
    for f in runners.values():
        f()
    for i in range(reps):
        for name, f in runners.items():
            if name.startswith("keras") and i % 5:
                continue  # Keras is slow: sample it every 5th round
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    med = {k: median_ms(v) for k, v in times.items()}
    print(
        f"\nthroughput per core, {SIDE}^2, affine + flip + Gaussian noise (single thread, "
        f"{reps} interleaved rounds):"
    )
    for k, v in med.items():
        print(f"  {k:32s} {v:7.2f} ms/image  {1000 / v:7.1f} images/s")

    def ratio(a: str, b: str, label: str) -> None:
        if a in med and b in med:
            print(f"  ratio {label}: {med[b] / med[a]:.2f}x")

    if alb:
        print(
            f"  (albumentations {alb}; it has no uint16 noise path, so uint16 compares with "
            f"its float32)"
        )
    ratio("ours uint8", "albumentations uint8", "ours/albumentations uint8 (>= 1 is faster)")
    ratio("ours uint16", "albumentations float32", "ours uint16 / albumentations float32")
    ratio(
        "ours uint8 opencv",
        "albumentations uint8",
        "ours opencv/albumentations uint8 (>= 1 is faster)",
    )
    ratio(
        "ours uint16 opencv",
        "albumentations float32",
        "ours opencv uint16 / albumentations float32",
    )
    ratio(
        "ours uint16 geometry only",
        "albumentations f32 affine only",
        "geometry alone, ours uint16 / albumentations (OpenCV) float32",
    )
    ratio("ours uint8", "keras uint8", "ours/Keras uint8 (Keras without noise)")
    ratio("ours uint16", "keras uint16", "ours/Keras uint16 (Keras without noise)")
    ratio("ours uint16", "keras uint16 + noise", "ours/Keras uint16, both with noise")
    ratio("ours uint8 opencv", "keras uint8", "ours opencv/Keras uint8 (Keras without noise)")
    ratio("ours uint16 opencv", "keras uint16", "ours opencv/Keras uint16 (Keras without noise)")
    ratio("ours uint16 opencv", "keras uint16 + noise", "ours opencv/Keras uint16, both with noise")
    ratio("ours uint8 opencv", "ours uint8", "opencv / exact resampler, uint8 (speed-up)")
    ratio("ours uint16 opencv", "ours uint16", "opencv / exact resampler, uint16 (speed-up)")


def _work(n: int) -> float:
    rng = np.random.default_rng(2)
    img = (rng.random((SIDE, SIDE)) * 60000).astype(np.uint16)
    p = ours_pipeline(600.0)
    t = time.perf_counter()
    for k in range(n):
        p.augment(img, item_index=os.getpid(), copy_index=k)
    return time.perf_counter() - t


def bench_scaling(n_images: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    print(
        f"\nscaling ({n_images} images of {SIDE}^2 uint16, compute only, warm pools); load "
        f"average {os.getloadavg()[0]:.2f}:"
    )
    walls = {}
    for workers in (1, 2):
        with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            list(pool.map(_work, [2] * workers))  # start and warm the workers
            t = time.perf_counter()
            list(pool.map(_work, [n_images // workers] * workers))
            walls[workers] = time.perf_counter() - t
        print(
            f"  {workers} worker(s): {walls[workers]:.2f} s  {n_images / walls[workers]:.1f} "
            f"images/s"
        )
    print(f"  speed-up with 2 workers: {walls[1] / walls[2]:.2f}x (target >= 1.7)")


def bench_batch_job(n_items: int) -> None:
    """End to end: folder of TIFFs -> K copies written + manifest, 1 vs 2 worker processes."""
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
        walls = {}
        for workers in (1, 2):
            t = time.perf_counter()
            run_job(
                augment_dataset(
                    open_source(src),
                    ours_pipeline(600.0),
                    Path(tmp) / f"o{workers}",
                    4,
                    workers=workers,
                )
            )
            walls[workers] = time.perf_counter() - t
        total = n_items * 4
        print(f"\nbatch job ({n_items} items x 4 copies, TIFF in/out, incl. process start-up):")
        for w, s in walls.items():
            print(f"  {w} worker(s): {s:.2f} s  {total / s:.1f} images/s")
        print(f"  speed-up: {walls[1] / walls[2]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--only",
        choices=("preview", "throughput", "scaling", "batch"),
        action="append",
        help="run only these parts (repeatable)",
    )
    a = ap.parse_args()
    parts = set(a.only or ("preview", "throughput", "scaling", "batch"))
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    if "preview" in parts:
        bench_preview(10 if a.quick else 30)
    if "throughput" in parts:
        bench_throughput(30 if a.quick else 100)
    if "scaling" in parts:
        bench_scaling(40 if a.quick else 200)
    if "batch" in parts:
        bench_batch_job(10 if a.quick else 40)


if __name__ == "__main__":
    main()
