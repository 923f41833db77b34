"""A seeded, deterministic simulator of neutron radiographs with exact ground truth.

Why: spot annotation of a real 2048x2048 radiograph takes hours, and its truth is uncertain.
A simulated radiograph comes with the truth for free, so detectors can be scored, datasets
can be built and the demo has something real-looking to show without any files.

The model (one detector frame, in counts)
-----------------------------------------
1. **Sample (Beer-Lambert).** A few geometric phantoms sit at random positions and angles:
   *plates* (rotated rectangles of constant thickness along the beam), *cylinders* seen from
   the side (axis in the image plane; path length is the chord ``2*sqrt(r^2 - d^2)`` at distance
   ``d`` from the axis, over the cylinder's length) and *spheres* (chord ``2*sqrt(r^2 - d^2)``
   at distance ``d`` from the centre). Each has a linear attenuation coefficient ``mu`` (per mm);
   path lengths are in mm through ``pixel_size_mm``. Overlapping objects add up:
   transmission ``T = exp(-sum_i mu_i * L_i)``.
2. **Open beam.** A smooth, non-uniform flux: ``open_beam_counts`` at the beam centre, a radial
   Gaussian fall-off (``beam_falloff`` lost at the far corner) and a linear tilt
   (``beam_gradient``). It belongs to the instrument, so it is drawn from ``detector_seed`` and is
   the same in every image of a set (a flat field measured once normalises them all).
3. **Detector blur.** The scintillator spreads light: the transmitted flux is convolved with a
   Gaussian PSF of ``blur_sigma_px`` (``scipy.ndimage.gaussian_filter``). The open beam is
   smooth, so ``blur(beam * T) ~ beam * blur(T)``, and only the region holding objects is blurred.
4. **Counting noise.** The expected signal ``S`` counts comes from ``S / counts_per_neutron``
   detected neutrons; their number is Poisson. For 20 or more expected neutrons the Poisson law
   is replaced by its normal approximation (indistinguishable there, and ~3x faster); below,
   exact Poisson draws are used. Gaussian read noise (``read_noise_counts``) is added.
5. **Dark current.** An offset ``dark_counts`` plus a fixed pattern of row and column offsets
   (std ``dark_pattern_counts``, as CMOS read-out amplifiers give), drawn from ``detector_seed``.
6. **Gamma spots.** Gamma rays hit the camera sensor itself, not the sample, so spots are added
   *after* blur and noise: small bright clusters of 1-20 pixels (log-uniform sizes: many small,
   a few large), shaped as single dots, compact blobs (random growth) or short tracks (wandering
   lines), every spot 4-connected. Peak heights are log-uniform in ``spot_counts``; a fraction
   ``spot_saturated_fraction`` is energetic enough to clip at 65535. Their number is Poisson with
   mean ``spot_rate_per_mpx`` per megapixel, their density varies across the image
   (``spot_density_gradient``). Spots never touch: between pixels of two spots lie at least
   ``spot_min_spacing_px`` background pixels (so labelling the spot mask with any connectivity
   gives back exactly one component per spot). Placement is one spot at most per cell of an
   ``(16 + spacing)``-pixel grid, so the rate is capped at the number of cells (about 3000 per
   megapixel with the defaults; an image narrower than one cell, 18 px, gets no spots).
7. The sum is rounded and clipped to uint16.

Ground truth
------------
``spot_labels`` holds, for every spot ``k`` (1..n, numbered in raster order), exactly the pixels
whose recorded value spot ``k`` changed; the image without spots is bit-identical elsewhere.
(A pixel that already read 65535 cannot change, so it is not part of any spot; this only
happens when ``open_beam_counts`` is set close to full scale.)
``object_labels`` holds, for every object, the pixels where it removes more than one millionth of
the beam (where objects overlap, the one attenuating most at that pixel); ``transmission`` is the
ideal (unblurred) sample transmission, below 1 exactly where ``object_labels > 0``.

Determinism
-----------
Everything follows from ``seed`` (and ``detector_seed`` for the instrument). Each component
draws from its own stream (``numpy.random.SeedSequence(seed, spawn_key=(k,))``), so switching
spots off (``spot_rate_per_mpx=0``) or changing the spot knobs leaves the sample, beam and noise
bit-identical: the image with spots differs from the one without only at spot pixels.

Files written by :func:`write_simulated_set` (into ``out_dir``)
---------------------------------------------------------------
- ``sim_{index:04d}.tif``: the radiograph, uint16, uncompressed (memory-mappable), ImageJ TIFF
  with the pixel size (mm) as resolution.
- ``sim_{index:04d}_spots.tif``: spot label image, zlib-compressed, uint16 (uint32 when there
  are 65536 spots or more); 0 = no spot, k = spot k.
- ``sim_{index:04d}_objects.tif``: object label image, uint16, zlib-compressed; 0 = open beam.
- ``simulation.json``: format/version, the parameters, the seed, and per image: the index, its
  derived seed, the three file names, the object records and the spot records. Image ``i``'s seed
  is derived from ``(seed, i)`` with ``SeedSequence(seed, spawn_key=(i,))``, so image ``i`` is the
  same whatever ``count`` is. The JSON is written at the start as the run's record
  (``"complete": false``, no images, ``planned_count``: the images its files span), and again
  when the set is finished (or cancelled: then ``"complete": false`` and only the images written
  so far). A run stopped by a full disk leaves the start record, so the same command run again
  knows the files as its own and writes the set anew over them.
"""

from qbi_desktop.core.simulate.files import simulation_file_names, write_simulated_set
from qbi_desktop.core.simulate.params import (
    FORMAT_NAME,
    FORMAT_VERSION,
    JSON_NAME,
    MAX_SIDE,
    MIN_SIDE,
    OBJECT_KINDS,
    SATURATION,
    SPOT_KINDS,
    SimulationParams,
)
from qbi_desktop.core.simulate.radiograph import (
    SimulatedRadiograph,
    derive_image_seed,
    expose,
    simulate_radiograph,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "JSON_NAME",
    "OBJECT_KINDS",
    "SATURATION",
    "SPOT_KINDS",
    "MAX_SIDE",
    "MIN_SIDE",
    "SimulationParams",
    "SimulatedRadiograph",
    "derive_image_seed",
    "expose",
    "simulate_radiograph",
    "write_simulated_set",
    "simulation_file_names",
]
