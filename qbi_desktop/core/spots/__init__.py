"""Gamma-spot detection (proposals for review) and object-level scoring against ground truth.

Two detectors, both returning a :class:`SpotDetection` (label image + scored candidates):

``method="median"`` (default, fast)
    background = a median filter of the image; residual = image - background; the noise is a
    robust sigma per background level (``sigma="level"``, :func:`noise_vs_level`): the larger
    of the second-difference estimate and 1.4826 x MAD of the residual itself, so it follows
    the Poisson noise that grows with brightness *and* the correlated noise and fixed pattern
    of real detectors; each pixel then takes the largest sigma within the median window
    (beside an edge the window mixes levels). Seeds are pixels with
    residual > ``k`` sigma; each spot grows from its seeds over the 8-connected pixels with
    residual > ``k_low`` sigma (hysteresis), so it gets its faint rim too. Components with
    ``min_area`` <= area <= ``max_area`` are kept, scored by peak residual / sigma.

    The median: ``scipy.ndimage.median_filter`` at 5x5 takes ~1.3 s on a 2048^2 image here, and
    a window that removes spots up to 20 px (~5x5 blobs) must be larger still. We use a
    *separable, strided* median instead (``median="fast"``): a 5-tap median along the rows, then
    along the columns, the taps ``stride`` = (size - 1) / 4 pixels apart, so the window spans
    ``size`` pixels (default 13). The 5-tap median is a branch-free min/max network on whole
    arrays (~9 numpy ops per pass, on the uint16 data when the image is uint16). A blob up to
    ``size // 2`` pixels wide or tall, or any track one to two pixels thin, hits at most 2 of 5
    taps and is removed from the background, while straight edges of objects are kept (a 1-D
    median preserves a step). Measured ~0.07 s for the median, ~0.2 s for the whole detection
    on 2048^2 uint16 (see tests/benchmarks/bench_spots.py). ``median="exact"`` uses the true
    2-D ``scipy.ndimage.median_filter`` of ``size`` (slow; for comparison).

``method="morph"``
    fill the peaks by morphological reconstruction: reconstruction by dilation under the image
    from a seed that equals the image on the border and its minimum inside (the dual of
    reconstruction by erosion from a seed above, applied to the negated image). Every regional
    maximum is cut down to the level of its saddle, so ``image - filled`` is the height of each
    peak above its surroundings. Pixels above ``max(quantile(image - filled, quantile), k x
    sigma)`` are spot pixels (the ``k x sigma`` floor keeps noise peaks out when an image holds
    fewer spot pixels than the quantile assumes). Reconstruction sorts the pixels it covers
    (~1.5 s for a whole 2048^2 image), so it runs only in windows of ``margin`` px around the
    candidate peaks (median residual > (k - 1) sigma), packed into one mosaic of rows at most
    ``tile`` px wide and reconstructed in one call: ~0.35 s on 2048^2, the same detections as
    the former 512 px tiles (pixel IoU 0.99), and none of the broad bright plateaus (the beam's
    dome) that a whole-image reconstruction calls a peak.

Hot pixels: a camera's hot pixels look exactly like one-pixel gamma spots in one frame; on the
real radiographs (edge20mm_*) they outnumber the gamma spots ~8 to 1 and are most of the
proposals. :func:`hot_pixel_map` finds them from a dark frame or other frames of the series,
and ``detect_spots(..., exclude=map)`` keeps them from starting a spot.

Scoring against truth: :func:`evaluate_spots` (matching rule in its docstring). On real frames
of one static scene, :func:`temporal_spot_truth` builds a pseudo truth from the other frames and
:func:`evaluate_temporal` scores against it.

Modules: :mod:`.params` (defaults and checks), :mod:`.median` (background), :mod:`.noise` (sigma),
:mod:`.detect` (the detectors), :mod:`.hot_pixels` and :mod:`.references` (where they come
from), :mod:`.evaluate` (scoring), :mod:`.temporal` (pseudo truth on real frames).
Everything is importable from here.
"""

from qbi_desktop.core.spots.detect import (
    SpotDetection,
    detect_spots,
    detect_spots_job,
    fill_peaks,
)
from qbi_desktop.core.spots.evaluate import (
    SpotEvaluation,
    evaluate_spots,
    pixel_agreement,
    true_spot_snr,
)
from qbi_desktop.core.spots.hot_pixels import (
    HotPixels,
    hot_pixel_map,
    hot_pixels,
    hot_pixels_job,
)
from qbi_desktop.core.spots.measure import Candidates, SpotCandidate
from qbi_desktop.core.spots.median import separable_median
from qbi_desktop.core.spots.noise import (
    local_sigma_map,
    noise_sigma,
    noise_vs_level,
    robust_sigma,
    sigma_from_level,
)
from qbi_desktop.core.spots.params import DEFAULTS, METHODS, SpotParamError
from qbi_desktop.core.spots.references import (
    AutoHotPixels,
    HotPixelReferences,
    auto_hot_pixels_job,
    find_hot_pixel_references,
    is_dark_frame,
)
from qbi_desktop.core.spots.temporal import TemporalTruth, evaluate_temporal, temporal_spot_truth

__all__ = [
    "Candidates",
    "AutoHotPixels",
    "auto_hot_pixels_job",
    "DEFAULTS",
    "HotPixelReferences",
    "HotPixels",
    "METHODS",
    "SpotCandidate",
    "SpotDetection",
    "SpotEvaluation",
    "SpotParamError",
    "TemporalTruth",
    "detect_spots",
    "detect_spots_job",
    "evaluate_spots",
    "evaluate_temporal",
    "fill_peaks",
    "find_hot_pixel_references",
    "hot_pixel_map",
    "hot_pixels",
    "hot_pixels_job",
    "is_dark_frame",
    "local_sigma_map",
    "noise_sigma",
    "noise_vs_level",
    "pixel_agreement",
    "robust_sigma",
    "separable_median",
    "sigma_from_level",
    "temporal_spot_truth",
    "true_spot_snr",
]
