"""Every augmentation option: its default, its check, and what it means (for the dock's tooltips).

Options carry Keras' names where Keras has the option, so a lecture's ``ImageDataGenerator(...)``
arguments paste straight into a pipeline. Validation never evaluates anything: a value is checked
against its type and range, and any problem is a :class:`UserFacingError` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qbi_desktop.core.errors import UserFacingError

FILL_MODES = ("constant", "nearest", "reflect", "wrap")


@dataclass(frozen=True)
class OptionSpec:
    name: str
    default: Any
    check: Callable[[str, Any], Any]  # returns the normalised value or raises UserFacingError
    help: str
    kind: str  # "geometry", "intensity", "noise", "standardize", "fill"
    keras: bool = True


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fail(field: str, problem: str):
    raise UserFacingError(f"{field}: {problem}")


def _number(lo: float | None = None, hi: float | None = None, lo_open=False, hi_open=False):
    def check(field: str, v: Any):
        if not _is_number(v):
            _fail(field, f"expected a number, got {_describe(v)}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            _fail(field, f"{v} is out of range (must be {'>' if lo_open else '>='} {lo})")
        if hi is not None and (v > hi or (hi_open and v == hi)):
            _fail(field, f"{v} is out of range (must be {'<' if hi_open else '<='} {hi})")
        return v

    return check


#: Largest r of a value drawn from [-r, r]: numpy's uniform needs high - low to be a finite
#: float (r = 1e308 raised OverflowError part way through a batch); far beyond any image.
SYMMETRIC_MAX = 1e300


def _bool(field: str, v: Any):
    if not isinstance(v, bool):
        _fail(field, f"expected true or false, got {_describe(v)}")
    return v


def _choice(*values: Any):
    def check(field: str, v: Any):
        if v not in values:
            _fail(field, f"{v!r} is not one of {', '.join(map(repr, values))}")
        return v

    return check


def _shift(field: str, v: Any):
    """Keras' shift forms: float (fraction if < 1, else pixels), int (pixels, choice of 0..n-1),
    or a list of values to choose from (fractions if all < 1)."""
    if isinstance(v, list):
        if not v:
            _fail(field, "the list of shifts is empty")
        for i, item in enumerate(v):
            if not _is_number(item):
                _fail(f"{field}[{i}]", f"expected a number, got {_describe(item)}")
            if item < 0:
                _fail(f"{field}[{i}]", f"{item} is out of range (must be >= 0)")
        return list(v)
    return _number(0, SYMMETRIC_MAX)(field, v)


def _pair(lo: float | None = None, hi: float | None = None, lo_open=False):
    def check(field: str, v: Any):
        if not isinstance(v, list) or len(v) != 2:
            _fail(field, f"expected a list of two numbers [low, high], got {_describe(v)}")
        for i in range(2):
            _number(lo, hi, lo_open=lo_open)(f"{field}[{i}]", v[i])
        if v[0] > v[1]:
            _fail(field, f"low {v[0]} is greater than high {v[1]}")
        return list(v)

    return check


def _optional(check: Callable[[str, Any], Any]):
    def inner(field: str, v: Any):
        return None if v is None else check(field, v)

    return inner


RESAMPLERS = ("fast", "exact", "opencv")
RESAMPLER_HELP = (
    "fast (default): OpenCV warpAffine where OpenCV is installed, else the exact resampler. "
    "exact: our own resampler, the reference. opencv: OpenCV required, ~2x faster geometry, "
    "values within 1/32 pixel of the exact resampler's positions; masks always exact (elastic "
    "and orders >= 2 stay exact; Keras-compatible mode always resamples exactly)"
)


def _resampler(field: str, v: Any):
    """One of :data:`RESAMPLERS`; 'opencv' only where OpenCV can be imported (imported now, so
    a pipeline that cannot run is refused when chosen or loaded, not part way through a batch).
    'fast' never fails: it is 'opencv' where OpenCV is installed and 'exact' elsewhere (the
    packaged app leaves OpenCV out to stay within its size budget)."""
    _choice(*RESAMPLERS)(field, v)
    if v == "opencv":
        from qbi_desktop.core.augment import cvwarp

        cvwarp.load(field)
    return v


def _zoom(field: str, v: Any):
    if isinstance(v, list):
        return _pair(0, lo_open=True)(field, v)
    return _number(0, 1, hi_open=True)(field, v)


def _rescale(field: str, v: Any):
    if v is None:
        return None
    return _number()(field, v)


def _record(fields: dict[str, Callable[[str, Any], Any]], defaults: dict[str, Any]):
    """A JSON object with known keys only (missing keys take their defaults)."""

    def check(field: str, v: Any):
        if not isinstance(v, dict):
            _fail(field, f"expected an object with keys {', '.join(fields)}, got {_describe(v)}")
        unknown = sorted(set(v) - set(fields))
        if unknown:
            _fail(f"{field}.{unknown[0]}", f"unknown option (known: {', '.join(fields)})")
        out = dict(defaults)
        for key, value in v.items():
            out[key] = fields[key](f"{field}.{key}", value)
        missing = [k for k in fields if k not in out]
        if missing:
            _fail(f"{field}.{missing[0]}", "is required")
        return out

    return check


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, (list, tuple)):
        return f"a list {list(v)!r}"
    if isinstance(v, dict):
        return "an object"
    return repr(v)


SPECS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "rotation_range", 0, _number(0, 180), "random rotation in [-r, r] degrees", "geometry"
    ),
    OptionSpec(
        "width_shift_range",
        0.0,
        _shift,
        "horizontal shift: fraction of the width if < 1, else pixels; an int n picks 0..n-1 px, "
        "a list picks one of its values (with a random sign)",
        "geometry",
    ),
    OptionSpec(
        "height_shift_range",
        0.0,
        _shift,
        "vertical shift, same forms as the width shift",
        "geometry",
    ),
    OptionSpec(
        "shear_range",
        0.0,
        _number(0, 90, hi_open=True),
        "shear angle in [-s, s] degrees",
        "geometry",
    ),
    OptionSpec(
        "zoom_range",
        0.0,
        _zoom,
        "z: zoom factors in [1-z, 1+z], or [low, high]; x and y drawn independently (> 1 shrinks)",
        "geometry",
    ),
    OptionSpec("horizontal_flip", False, _bool, "mirror left-right half of the time", "geometry"),
    OptionSpec("vertical_flip", False, _bool, "mirror top-bottom half of the time", "geometry"),
    OptionSpec(
        "fill_mode",
        "nearest",
        _choice(*FILL_MODES),
        "how pixels outside the image are filled",
        "fill",
    ),
    OptionSpec("cval", 0.0, _number(), "fill value for fill_mode 'constant'", "fill"),
    OptionSpec(
        "interpolation_order",
        1,
        _choice(0, 1, 2, 3, 4, 5),
        "spline order of the resampling (masks: 0)",
        "fill",
    ),
    OptionSpec("resampler", "fast", _resampler, RESAMPLER_HELP, "fill", keras=False),
    OptionSpec(
        "channel_shift_range",
        0.0,
        _number(0, SYMMETRIC_MAX),
        "add one value in [-r, r] to all channels (clipped to the image's range)",
        "intensity",
    ),
    OptionSpec(
        "brightness_range",
        None,
        _optional(_pair(0)),
        "[low, high]: multiply intensities by a factor drawn from it",
        "intensity",
    ),
    OptionSpec(
        "rescale", None, _rescale, "multiply by this factor (model input step)", "standardize"
    ),
    OptionSpec(
        "featurewise_center", False, _bool, "subtract the dataset mean (needs fit)", "standardize"
    ),
    OptionSpec("samplewise_center", False, _bool, "subtract each image's mean", "standardize"),
    OptionSpec(
        "featurewise_std_normalization",
        False,
        _bool,
        "divide by the dataset std (needs fit)",
        "standardize",
    ),
    OptionSpec(
        "samplewise_std_normalization", False, _bool, "divide by each image's std", "standardize"
    ),
    OptionSpec(
        "zca_whitening", False, _bool, "ZCA whitening (needs fit; small images only)", "standardize"
    ),
    OptionSpec(
        "zca_epsilon", 1e-6, _number(0, lo_open=True), "epsilon of ZCA whitening", "standardize"
    ),
    # --- beyond Keras ---
    OptionSpec(
        "gaussian_noise",
        None,
        _optional(_record({"std_range": _pair(0)}, {})),
        "{std_range: [low, high]}: additive N(0, std^2) noise, std in the image's units",
        "noise",
        keras=False,
    ),
    OptionSpec(
        "poisson_noise",
        None,
        _optional(
            _record(
                {
                    "dose_range": _pair(0, 1, lo_open=True),
                    "counts_per_unit": _number(0, lo_open=True),
                },
                {"counts_per_unit": 1.0},
            )
        ),
        "{dose_range: [low, high] in (0, 1], counts_per_unit}: the image as if measured with a "
        "fraction of the dose (binomial thinning of counts; noise consistent with counting)",
        "noise",
        keras=False,
    ),
    OptionSpec(
        "gaussian_blur",
        None,
        _optional(_record({"sigma_range": _pair(0)}, {})),
        "{sigma_range: [low, high]}: Gaussian blur, sigma in pixels",
        "intensity",
        keras=False,
    ),
    OptionSpec(
        "gamma_range",
        None,
        _optional(_pair(0, lo_open=True)),
        "[low, high]: gamma over the value range (dtype range for integers)",
        "intensity",
        keras=False,
    ),
    OptionSpec(
        "contrast_range",
        None,
        _optional(_pair(0)),
        "[low, high]: scale deviations from the mean",
        "intensity",
        keras=False,
    ),
    OptionSpec(
        "random_crop",
        None,
        _optional(
            _record(
                {"scale_range": _pair(0, 1, lo_open=True), "ratio_range": _pair(0, lo_open=True)},
                {"ratio_range": [1.0, 1.0]},
            )
        ),
        "{scale_range, ratio_range}: crop a window of that area fraction and aspect ratio, resized "
        "back to the image size",
        "geometry",
        keras=False,
    ),
    OptionSpec(
        "elastic",
        None,
        _optional(_record({"alpha": _number(0), "sigma": _number(0, lo_open=True)}, {})),
        "{alpha, sigma}: smooth random deformation, at most alpha pixels, smoothness sigma pixels",
        "geometry",
        keras=False,
    ),
)

SPEC_BY_NAME = {s.name: s for s in SPECS}
DEFAULTS = {s.name: s.default for s in SPECS}


def validate_options(options: Any, field: str = "options") -> dict[str, Any]:
    """Check a dict of options; returns the complete option dict (defaults filled in)."""
    if not isinstance(options, dict):
        _fail(field, f"expected an object of options, got {_describe(options)}")
    out = dict(DEFAULTS)
    for key, value in options.items():
        spec = SPEC_BY_NAME.get(key)
        if spec is None:
            _fail(f"{field}.{key}", "unknown option")
        out[key] = spec.check(f"{field}.{key}", _jsonable(value))
    return out


#: how many of the image's longer side an elastic displacement may reach: beyond, every pixel
#: is moved out of the image (the copy is all fill) and ever larger values overflow the maths
ELASTIC_SIDES = 3


def check_for_image(
    options: dict[str, Any], shape: tuple[int, ...], field: str = "options", *, keras: bool = False
) -> None:
    """Refuse the options whose value is beyond what this image (``shape``, full size) can use:
    a pixel shift longer than the image's side, a blur or elastic smoothness sigma longer than
    its longer side, an elastic displacement beyond :data:`ELASTIC_SIDES` times that side. Each
    gives a blank or flat copy, at a cost that grows with the value (a blur of sigma 1e5 took
    minutes, elastic alpha 1e308 overflowed): the refusal names the option, the value and the
    range that means something for this image."""
    h, w = int(shape[0]), int(shape[1])
    side = max(h, w)
    shifts = (("width_shift_range", "width", w), ("height_shift_range", "height", h))
    for name, axis, extent in shifts:
        value = options.get(name)
        values = value if isinstance(value, list) else [value]
        numbers = [v for v in values if _is_number(v)]
        top = max(numbers, default=0)
        if top < 1:  # fractions of the side: always inside the image
            continue
        limit = side if keras else extent  # Keras' shifts swap their axes (see keras_compat)
        if top > limit:
            what = "longer side" if keras else axis
            _fail(
                f"{field}.{name}",
                f"a shift of {top:g} px is more than the image's {what} ({limit} px): the copy "
                f"would be moved wholly out of the image; use at most {limit} px, or a fraction "
                "of the side below 1",
            )
    blur = options.get("gaussian_blur")
    if isinstance(blur, dict) and max(blur.get("sigma_range") or [0]) > side:
        _fail(
            f"{field}.gaussian_blur.sigma_range",
            f"a sigma of {max(blur['sigma_range']):g} px is more than the image's longer side "
            f"({side} px): the copy would be flat; use at most {side} px",
        )
    elastic = options.get("elastic")
    if isinstance(elastic, dict):
        alpha, sigma = elastic.get("alpha", 0), elastic.get("sigma", 1)
        if alpha > ELASTIC_SIDES * side:
            _fail(
                f"{field}.elastic.alpha",
                f"a displacement of {alpha:g} px is more than {ELASTIC_SIDES} times the image's "
                f"longer side ({side} px): every pixel would leave the image; use at most "
                f"{ELASTIC_SIDES * side} px",
            )
        if sigma > side:
            _fail(
                f"{field}.elastic.sigma",
                f"a smoothness of {sigma:g} px is more than the image's longer side ({side} px): "
                f"the deformation would be a plain shift; use at most {side} px",
            )


def _jsonable(v: Any) -> Any:
    """Tuples (from Python callers) are lists in JSON; treat them alike."""
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def changing_options(options: dict[str, Any]) -> list[str]:
    """The options that make an augmented copy differ from its original: active geometry,
    intensity and noise steps. Fill settings change nothing alone, and standardisation is not
    applied to written copies, so a pipeline with none of these writes identical copies."""
    return [
        s.name
        for s in SPECS
        if s.kind not in ("fill", "standardize") and is_active(s.name, options.get(s.name))
    ]


def is_active(name: str, value: Any) -> bool:
    """Whether an option changes anything (used by profiles: 'this pipeline uses X')."""
    spec = SPEC_BY_NAME[name]
    if spec.kind == "fill" or name == "zca_epsilon":
        return False
    if name == "zoom_range":
        return value not in (0, 0.0) and value != [1, 1]
    if isinstance(value, list):
        return any(value)
    if isinstance(value, dict):
        return True
    return bool(value)
