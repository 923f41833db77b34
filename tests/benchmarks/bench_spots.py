"""Benchmark spot detection: time on 2048^2 for both methods, F1 on simulated radiographs,
F1 per frame on the real radiographs against their temporal pseudo truth.

Run: .venv/bin/python tests/benchmarks/bench_spots.py
The peer run side by side is the exact 2-D scipy.ndimage.median_filter (``median="exact"``)
that our separable, strided median replaces.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph  # noqa: E402
from qbi_desktop.core.spots import (  # noqa: E402
    detect_spots,
    evaluate_spots,
    evaluate_temporal,
    hot_pixel_map,
    pixel_agreement,
    robust_sigma,
    separable_median,
    temporal_spot_truth,
    true_spot_snr,
)

RADIOGRAPHS = Path(__file__).resolve().parents[3] / "shared" / "data" / "radiographs"


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    sims = [simulate_radiograph(SimulationParams(), seed=s) for s in (0, 1)]
    img = sims[0].image
    t_med, _ = timed(lambda: detect_spots(img, "median"), 7)
    t_exact, _ = timed(lambda: detect_spots(img, "median", median="exact"), 1)
    t_morph, _ = timed(lambda: detect_spots(img, "morph"), 7)
    print(
        f"detection on 2048^2 uint16 (median of runs): median method {t_med:.3f} s; "
        f"morph {t_morph:.2f} s"
    )
    print(
        f"  peer: same detector with the exact 2-D median (size 13) {t_exact:.2f} s "
        f"-> ours {t_exact / t_med:.1f}x faster"
    )
    for sim in sims:
        peaks = {s["id"]: s["peak_counts_above_background"] for s in sim.spots}
        snr = true_spot_snr(sim.image, sim.spot_labels, peaks)
        keep = [s["id"] for s in sim.spots if s["area_px"] >= 2 and snr[s["id"]] >= 5]
        for method, kw in (("median", {}), ("median", {"median": "exact"}), ("morph", {})):
            det = detect_spots(sim.image, method, **kw)
            ev = evaluate_spots(det.labels, sim.spot_labels, evaluate_true=keep)
            ev_all = evaluate_spots(det.labels, sim.spot_labels)
            name = method + (" (exact median)" if kw else "")
            print(
                f"seed {sim.seed} {name}: {len(keep)} evaluated of {len(sim.spots)} true; "
                f"{ev.summary()}; recall on all true spots {ev_all.recall:.3f}"
            )
    raw_p = RADIOGRAPHS / "spotprojection_0001.tif"
    if raw_p.exists():
        import tifffile

        raw = tifffile.imread(raw_p)
        lowered = raw.astype(np.float64) - tifffile.imread(RADIOGRAPHS / "spotcleaned_0001.tif")
        sigma = robust_sigma(raw - separable_median(raw, 13))  # correlated noise: see tests
        for method in ("median", "morph"):
            det = detect_spots(raw, method)
            r10, _ = pixel_agreement(det.mask, lowered > 10 * sigma)
            r5, p5 = pixel_agreement(det.mask, lowered > 5 * sigma)
            _, p1 = pixel_agreement(det.mask, lowered > sigma)
            print(
                f"real projection vs reference cleaner ({method}): {len(det.candidates)} spots, "
                f"{int(det.mask.sum())} px; recall on px lowered >10 sigma {r10:.3f} "
                f"({int((lowered > 10 * sigma).sum())} px), >5 sigma {r5:.3f}; precision: "
                f"{p1:.3f} of detected px lowered >1 sigma, {p5:.3f} >5 sigma "
                f"(sigma {sigma:.3f})"
            )

    real_frames()


def real_frames() -> None:
    """Four radiographs of one scene: each frame scored against the other three."""
    paths = [RADIOGRAPHS / f"edge20mm_{i:04d}.tif" for i in range(4)]
    if not all(p.exists() for p in paths):
        print("real frames: shared data not present, skipped")
        return
    import tifffile

    frames = np.stack([tifffile.imread(p) for p in paths])
    print(
        "real frames edge20mm_0000..0003 (600^2) vs temporal pseudo truth, spots >= 5 sigma; "
        "F1 = hot pixels not judged, strict = hot pixels count as false positives"
    )
    for i in range(len(frames)):
        truth = temporal_spot_truth(frames, i)
        n_true = len(truth.evaluated_ids())
        hot = hot_pixel_map(np.delete(frames, i, axis=0))
        for method, kw in (("median", {}), ("morph", {}), ("median", {"exclude": hot})):
            det = detect_spots(frames[i], method, **kw)
            ev = evaluate_temporal(det.labels, truth)
            strict = evaluate_temporal(det.labels, truth, ignore_fixed=False)
            name = method + (" + hot pixels of the other frames excluded" if kw else "")
            print(
                f"  frame {i} {name}: {len(det.candidates)} candidates for {n_true} true; "
                f"F1 {ev.f1:.3f} (P {ev.precision:.3f}, R {ev.recall:.3f}); "
                f"strict F1 {strict.f1:.3f} (P {strict.precision:.3f})"
            )


if __name__ == "__main__":
    main()
