"""A pipeline: validated options + mode + seed + profile; draws per-sample parameters and applies
them.

Reproducibility: sample ``copy_index`` of item ``item_index`` gets the random stream
``SeedSequence(seed, spawn_key=(item_index, copy_index))`` (the same as
``SeedSequence(seed).spawn(...)[item_index].spawn(...)[copy_index]``), so the output of a pipeline
depends only on (pipeline, seed, item, copy): never on threads, processes, order or machine.

Parameters drawn for a sample form a plain JSON-able dict. The Keras keys (``theta, tx, ty, shear,
zx, zy, flip_horizontal, flip_vertical, channel_shift_intensity, brightness``) mean what they mean
in Keras' ``apply_transform`` (pixels and degrees; ``tx`` samples along columns, ``ty`` along
rows; positive values move the content left/up). Extra keys: ``crop`` (top, left, height, width as
fractions of the image), ``elastic`` {alpha, sigma, seed}, ``blur_sigma``, ``gamma``,
``contrast``, ``noise_std`` + ``noise_seed``, ``dose`` + ``counts_per_unit`` + ``poisson_seed``.
:meth:`Pipeline.apply` is deterministic given the dict, so a sample can be reproduced or shown
from its parameters alone.

See :mod:`.keras_compat` for what ``keras_compat=True`` changes (Keras' defects, reproduced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.augment import box_geometry, geometry, intensity, keras_compat
from qbi_desktop.core.augment.options import (
    DEFAULTS,
    changing_options,
    check_for_image,
    validate_options,
)
from qbi_desktop.core.augment.sampling import _corrected_params, _extra_params, _LazyRng, _plain
from qbi_desktop.core.augment.standardize import Standardizer
from qbi_desktop.core.errors import UserFacingError

PIPELINE_FORMAT = "qbi-augment"
PIPELINE_VERSION = 1
_TOP_LEVEL = ("format", "version", "name", "profile", "keras_compat", "seed", "options")


def sample_seed(seed: int, item_index: int, copy_index: int) -> np.random.SeedSequence:
    """The random stream of one output: independent of every other (item, copy)."""
    return np.random.SeedSequence(int(seed), spawn_key=(int(item_index), int(copy_index)))


@dataclass
class Sample:
    """One augmented output: image (input dtype), mask (input mask dtype), boxes, parameters."""

    image: np.ndarray
    mask: np.ndarray | None
    boxes: np.ndarray | None
    params: dict[str, Any]


@dataclass(frozen=True)
class Pipeline:
    """Options (Keras names + extras, see :mod:`.options`), mode, seed and modality profile.

    ``options["resampler"]`` picks how the image is resampled: ``"fast"`` (default: OpenCV where
    it is installed, within the tolerance :mod:`.cvwarp` documents and tests, our exact
    resampler elsewhere), ``"exact"`` (our own resampler, the reference) or ``"opencv"``
    (OpenCV required; refused with ``keras_compat``). Masks always keep the exact
    resampler's labels, and ``keras_compat`` always resamples exactly (with 'fast' too).

    Treat as immutable: derive variants with :meth:`with_options`.
    """

    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    keras_compat: bool = False
    seed: int = 0
    profile: str | None = None
    name: str = ""
    #: image sizes whose options :func:`.options.check_for_image` has passed (the options do
    #: not change: a batch of one size checks them once, not once per sample)
    _sizes_checked: set = field(default_factory=set, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", validate_options(self.options))
        if not isinstance(self.keras_compat, bool):
            raise UserFacingError(
                f"keras_compat: expected true or false, got {self.keras_compat!r}"
            )
        if self.keras_compat and self.options["resampler"] == "opencv":
            raise UserFacingError(
                f"options.resampler: {self.options['resampler']!r} cannot be combined with "
                "keras_compat (the Keras contract is exact pixels); choose 'fast' or 'exact' "
                "(both resample exactly in Keras mode) or turn Keras-compatible mode off"
            )
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, (int, np.integer))
            or not 0 <= self.seed < 2**63
        ):
            raise UserFacingError(f"seed: expected an integer from 0 to 2^63-1, got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))
        if self.profile is not None and not isinstance(self.profile, str):
            raise UserFacingError(f"profile: expected a profile name or null, got {self.profile!r}")
        if not isinstance(self.name, str):
            raise UserFacingError(f"name: expected a text, got {self.name!r}")
        object.__setattr__(self, "_checked", False)

    # --- construction / persistence ---

    @classmethod
    def from_options(
        cls,
        keras_compat: bool = False,
        seed: int = 0,
        profile: str | None = None,
        name: str = "",
        **options: Any,
    ) -> Pipeline:
        """``Pipeline.from_options(rotation_range=20, horizontal_flip=True, ...)``."""
        return cls(
            options=options, keras_compat=keras_compat, seed=seed, profile=profile, name=name
        )

    def with_options(self, **changes: Any) -> Pipeline:
        return Pipeline(
            {**self.options, **changes}, self.keras_compat, self.seed, self.profile, self.name
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PIPELINE_FORMAT,
            "version": PIPELINE_VERSION,
            "name": self.name,
            "profile": self.profile,
            "keras_compat": self.keras_compat,
            "seed": self.seed,
            "options": json.loads(json.dumps(self.options)),
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "pipeline") -> Pipeline:
        """Validate a pipeline document; every error names the field (prefixed by ``source``)."""
        try:
            if not isinstance(data, dict):
                raise UserFacingError("expected a JSON object")
            unknown = sorted(set(data) - set(_TOP_LEVEL))
            if unknown:
                raise UserFacingError(
                    f"{unknown[0]}: unknown field (known: {', '.join(_TOP_LEVEL)})"
                )
            if data.get("format") != PIPELINE_FORMAT:
                raise UserFacingError(
                    f"format: expected {PIPELINE_FORMAT!r}, got {data.get('format')!r} (not an "
                    f"augmentation pipeline)"
                )
            version = data.get("version")
            if isinstance(version, bool) or not isinstance(version, int) or version < 1:
                raise UserFacingError(f"version: expected a positive integer, got {version!r}")
            if version > PIPELINE_VERSION:
                raise UserFacingError(
                    f"version: {version} is newer than this app understands "
                    f"({PIPELINE_VERSION}); update QBI Desktop"
                )
            options = data.get("options", {})
            if isinstance(options, dict) and "resampler" not in options:
                # saved before the option existed: made with the exact resampler, keep it
                options = {**options, "resampler": "exact"}
            return cls(
                options=options,
                keras_compat=data.get("keras_compat", False),
                seed=data.get("seed", 0),
                profile=data.get("profile"),
                name=data.get("name", ""),
            )
        except UserFacingError as exc:
            raise UserFacingError(f"{source}: {exc}") from None

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        from qbi_desktop.core.jsonfile import read_json

        path = Path(path)
        return cls.from_json(read_json(path, "the pipeline"), str(path))

    # --- profile ---

    def check(self, profile_dirs: list[Path] | None = None) -> None:
        """Raise if the pipeline uses an option its modality profile disables (cached)."""
        if self._checked:  # type: ignore[attr-defined]
            return
        if self.profile is not None:
            from qbi_desktop.core.augment.profiles import get_profile

            get_profile(self.profile, profile_dirs).check(self.options)
        object.__setattr__(self, "_checked", True)

    def standardizer(self) -> Standardizer:
        """The model-input normalisation part of the options (rescale, centring, std, ZCA)."""
        return Standardizer.from_options(self.options)

    # --- sampling ---

    def sample_params(
        self, shape: tuple[int, ...], stream: np.random.SeedSequence | int
    ) -> dict[str, Any]:
        """Draw the parameters of one sample for an image of ``shape`` (full resolution)."""
        ss = (
            stream
            if isinstance(stream, np.random.SeedSequence)
            else np.random.SeedSequence(int(stream))
        )
        keras_ss, extra_ss = ss.spawn(2)
        return self._draw(shape, keras_ss, lambda: extra_ss)

    def _draw(self, shape, keras_ss, extra_ss) -> dict[str, Any]:
        """Parameters from the two child streams of a sample (``extra_ss()`` makes the second:
        a pipeline without extra options never needs it)."""
        h, w = int(shape[0]), int(shape[1])
        o = self.options
        # a value beyond what this image can use (a shift past its side, a blur wider than it)
        # is refused here, where the image's size is first known: before any cost
        if (h, w) not in self._sizes_checked:
            check_for_image(o, (h, w), keras=self.keras_compat)
            self._sizes_checked.add((h, w))
        if self.keras_compat:
            rs = np.random.RandomState(int(keras_ss.generate_state(1, np.uint32)[0]))
            params = _plain(keras_compat.keras_random_params(o, (h, w, 1), rs))
        else:  # (plain Python values already)
            params = _corrected_params(o, h, w, np.random.default_rng(keras_ss))
        params.update(_plain(_extra_params(o, h, w, _LazyRng(extra_ss))))
        return params

    def augment(
        self,
        image: np.ndarray,
        mask: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        *,
        item_index: int = 0,
        copy_index: int = 0,
    ) -> Sample:
        """Draw this (item, copy)'s parameters and apply them."""
        image = intensity.check_image(image)
        # the two children of sample_seed(seed, item, copy), made directly (as spawn(2) makes
        # them): a SeedSequence costs ~10 us to set up, and most pipelines need only one of them
        key = (int(item_index), int(copy_index))
        params = self._draw(
            image.shape,
            np.random.SeedSequence(self.seed, spawn_key=(*key, 0)),
            lambda: np.random.SeedSequence(self.seed, spawn_key=(*key, 1)),
        )
        return self.apply(image, params, mask, boxes)

    def apply(
        self,
        image: np.ndarray,
        params: dict[str, Any],
        mask: np.ndarray | None = None,
        boxes: np.ndarray | None = None,
        *,
        scale: float = 1.0,
    ) -> Sample:
        """Apply drawn parameters. ``scale`` < 1 applies full-size parameters to a downscaled copy
        (pixel quantities such as shifts, blur and elastic displacement shrink with it)."""
        self.check()
        image = intensity.check_image(image)
        mask = intensity.check_mask(mask, image.shape)
        try:
            if self.keras_compat:
                return _apply_keras(self.options, image, params, mask, boxes, scale)
            return _apply_corrected(self.options, image, params, mask, boxes, scale)
        except MemoryError:
            # the options are the likelier cause than the image: say which ones were at work
            h, w = image.shape[:2]
            used = ", ".join(changing_options(self.options)) or "none"
            raise UserFacingError(
                f"not enough memory to augment a {w} x {h} image with these options ({used}); "
                "try smaller values of them, or a smaller image"
            ) from None


# ---------------------------------------------------------------------------------------------
# Applying


def _geometry(o, params, shape, scale) -> tuple[np.ndarray, tuple | None]:
    """The corrected output->input matrix (affine, flips, crop) and the elastic field, if any."""
    h, w = shape[:2]
    m = geometry.sample_matrix(
        params.get("theta", 0.0),
        params.get("tx", 0.0) * scale,
        params.get("ty", 0.0) * scale,
        params.get("shear", 0.0),
        params.get("zx", 1.0),
        params.get("zy", 1.0),
        h,
        w,
        bool(params.get("flip_horizontal")),
        bool(params.get("flip_vertical")),
    )
    if "crop" in params:
        top, left, ch, cw = params["crop"]
        m = m @ geometry.crop_matrix((h, w), top * h, left * w, ch * h, cw * w)
    disp = None
    if "elastic" in params:
        e = params["elastic"]
        if e["alpha"] > 0:
            disp = geometry.elastic_field(
                (h, w), e["alpha"] * scale, max(e["sigma"] * scale, 0.5), e["seed"]
            )
    return m, disp


def _warp_mask(mask, m, mode, disp, resampler="exact"):
    """Labels by nearest neighbour: the exact resampler's pixels (OpenCV's where identical)."""
    if disp is None:
        axes = geometry.flip_axes(m, mask.shape)
        if axes is not None:  # a flip picks whole pixels: a reversed copy (~10x a warp's speed)
            return np.flip(mask, axes).copy() if axes else mask.copy()
    boolean = mask.dtype.kind == "b"
    src = mask.view(np.uint8) if boolean else mask
    out = geometry.warp(
        src, m, order=0, mode=mode, cval=0, displacement=disp, resampler=resampler, labels=True
    )
    return out.view(np.bool_) if boolean else out


def _move_boxes(boxes, m, shape, disp):
    if boxes is None:
        return None
    if disp is None:
        return box_geometry.transform_boxes(boxes, m, shape[:2], with_kept=False)[0]
    return box_geometry.boxes_through_field(boxes, m, shape[:2], shape[:2], disp)[0]


_BANDABLE = {"brightness", "noise_std", "noise_seed", "channel_shift_intensity", "gamma"}


def _fused_post(params: dict[str, Any], image: np.ndarray):
    """A per-band function doing the point-wise intensity steps and the final cast, when every
    step present is point-wise with fixed parameters; else None (whole-image steps follow)."""
    present = {k for k, v in params.items() if k not in keras_compat.KERAS_KEYS or v is not None}
    present -= {
        "theta",
        "tx",
        "ty",
        "shear",
        "zx",
        "zy",
        "flip_horizontal",
        "flip_vertical",
        "crop",
    }
    if params.get("channel_shift_intensity") is not None or not present <= _BANDABLE:
        return None
    dt = image.dtype
    rng_ = intensity.dtype_range(dt)
    if "gamma" in params and rng_ is None:
        return None  # float gamma needs the image's own range
    b = params.get("brightness")
    g = params.get("gamma")
    std = params.get("noise_std") or 0.0
    seed = params["noise_seed"] if std else None
    h, w = image.shape[:2]
    idx: list[np.ndarray] = []  # the noise's indices, made on first use

    def post(values: np.ndarray, r0: int, r1: int) -> np.ndarray:
        if b is not None:
            values = intensity.brightness(values, b)
        if g is not None:
            values = intensity.gamma(values, g, rng_)
        if seed is not None:
            if not idx:
                idx.append(intensity.noise_indices(seed, h * w))
            values = intensity.add_noise_band(values, std, idx[0][r0 * w : r1 * w])
        return intensity.finalize_band(values, dt)

    # nothing but the final cast: a resampler may produce the image's dtype directly
    post.only_cast = b is None and g is None and seed is None
    # nothing but noise and the cast: a resampler may add it to values in the image's dtype
    post.only_noise = (std, seed) if b is None and g is None and seed is not None else None
    return post


def _apply_corrected(o, image, params, mask, boxes, scale) -> Sample:
    wd = intensity.work_dtype(image.dtype)
    m, disp = _geometry(o, params, image.shape, scale)
    order = o["interpolation_order"]
    rs = o["resampler"]
    if disp is None and geometry.is_identity(m):
        out = image.astype(wd)
        new_mask = None if mask is None else mask.copy()
    else:
        # The mask before the image: a source reads an item's mask after its image, so the
        # mask's pixels are then the likelier still in cache (warped after the image's several
        # passes, the same warp took 0.05-0.1 ms more per 512^2 sample here, of ~0.2).
        new_mask = None if mask is None else _warp_mask(mask, m, o["fill_mode"], disp, rs)
        # (order 1 only: an order-0 resample copies values in the image's dtype, so its
        # intensity steps run afterwards on a float copy)
        post = _fused_post(params, image) if image.ndim == 2 and order == 1 else None
        if post is not None:  # geometry, point-wise steps and the cast in one banded pass
            new_image = geometry.warp(
                image,
                m,
                order=order,
                mode=o["fill_mode"],
                cval=o["cval"],
                work_dtype=wd,
                displacement=disp,
                post=post,
                out_dtype=image.dtype,
                resampler=o["resampler"],
            )
            return Sample(new_image, new_mask, _move_boxes(boxes, m, image.shape, disp), params)
        out = geometry.warp(
            image,
            m,
            order=order,
            mode=o["fill_mode"],
            cval=o["cval"],
            work_dtype=wd,
            displacement=disp,
            resampler=o["resampler"],
        )
        out = out.astype(wd, copy=False)
    new_boxes = _move_boxes(boxes, m, image.shape, disp)
    out = _intensity(out, image, params, scale)
    return Sample(intensity.finalize(out, image.dtype), new_mask, new_boxes, params)


def _intensity(
    out: np.ndarray, image: np.ndarray, params: dict[str, Any], scale: float
) -> np.ndarray:
    if not out.flags.writeable or np.may_share_memory(out, image):
        out = out.copy()
    if params.get("channel_shift_intensity") is not None:
        out = intensity.channel_shift(out, params["channel_shift_intensity"])
    if params.get("brightness") is not None:
        out = intensity.brightness(out, params["brightness"])
    if "contrast" in params:
        out = intensity.contrast(out, params["contrast"])
    if "gamma" in params:
        rng_ = intensity.dtype_range(image.dtype) or intensity.finite_range(out)
        out = intensity.gamma(out, params["gamma"], rng_)
    if params.get("blur_sigma"):
        out = intensity.blur(out, params["blur_sigma"] * scale)
    if "dose" in params:
        out = intensity.poisson_thinning(
            out, params["dose"], params["counts_per_unit"], params["poisson_seed"]
        )
    if params.get("noise_std"):
        out = intensity.gaussian_noise(out, params["noise_std"], params["noise_seed"])
    return out


def _apply_keras(o, image, params, mask, boxes, scale) -> Sample:
    """Keras' own path for the Keras keys (defects included), then the extras the corrected way."""
    kp = {k: params.get(k) for k in keras_compat.KERAS_KEYS if k in params}
    for k in ("tx", "ty"):
        if k in kp and kp[k]:
            kp[k] = kp[k] * scale
    order, mode, cval = o["interpolation_order"], o["fill_mode"], o["cval"]
    out = keras_compat.apply_transform(image, kp, mode, cval, order)
    h, w = image.shape[:2]
    geo = {
        k: kp.get(k, d)
        for k, d in (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0), ("zx", 1), ("zy", 1))
    }
    km = keras_compat._keras_matrix(*geo.values(), h, w)
    m = (np.eye(3) if km is None else km) @ geometry.flip_matrix(
        h, w, bool(kp.get("flip_horizontal")), bool(kp.get("flip_vertical"))
    )
    new_mask = None
    if mask is not None:
        geo_only = {
            k: v for k, v in kp.items() if k not in ("channel_shift_intensity", "brightness")
        }
        src = mask.view(np.uint8) if mask.dtype == np.bool_ else mask
        moved = keras_compat.apply_transform(src, geo_only, mode, 0.0, 0)
        new_mask = moved.view(np.bool_) if mask.dtype == np.bool_ else moved
    new_boxes = _move_boxes(boxes, m, image.shape, None)
    # Extras (crop, elastic, noise, ...) on top, the corrected way.
    extra = {k: v for k, v in params.items() if k not in keras_compat.KERAS_KEYS}
    if extra:
        m2, disp = _geometry(o, extra, image.shape, scale)
        wd = intensity.work_dtype(image.dtype)
        out = np.asarray(out, dtype=wd)
        if disp is not None or not geometry.is_identity(m2):
            out = geometry.warp(
                out, m2, order=order, mode=mode, cval=cval, work_dtype=wd, displacement=disp
            )
            out = out.astype(wd, copy=False)
            if new_mask is not None:
                new_mask = _warp_mask(new_mask, m2, mode, disp)
            if new_boxes is not None:
                new_boxes = _move_boxes(new_boxes, m2, image.shape, disp)
        out = _intensity(out, image, {k: v for k, v in extra.items()}, scale)
    out = intensity.finalize(np.asarray(out), image.dtype)
    if np.may_share_memory(out, image):  # Keras returns the input itself when nothing moves
        out = out.copy()
    if new_mask is not None and np.may_share_memory(new_mask, mask):
        new_mask = new_mask.copy()
    return Sample(out, new_mask, new_boxes, params)


# ---------------------------------------------------------------------------------------------
# Preview


def preview_copy(
    image: np.ndarray, mask: np.ndarray | None = None, max_side: int = 512
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """A preview-sized copy (integer block mean, dtype kept) and its mask (block max, so labels and
    one-pixel spots survive), plus the scale factor (<= 1) from full size to the copy."""
    image = intensity.check_image(image)
    mask = intensity.check_mask(mask, image.shape)
    f = geometry.downscale_factor(image.shape, max_side)
    if f == 1:
        return image, mask, 1.0
    small = intensity.finalize(geometry.block_reduce(image, f, "mean"), image.dtype)
    small_mask = None if mask is None else geometry.block_reduce(mask, f, "max")
    return small, small_mask, 1.0 / f


def preview(
    image: np.ndarray,
    mask: np.ndarray | None,
    pipeline: Pipeline,
    n: int = 8,
    seed: int | None = None,
    *,
    item_index: int = 0,
    max_side: int = 512,
) -> list[tuple[np.ndarray, np.ndarray | None, dict[str, Any]]]:
    """``n`` samples of ``image`` (and its mask) on a preview-sized copy, with their parameters.

    Parameters are drawn for the full-size image exactly as a batch run with the same seed draws
    them for (``item_index``, copy k), so what the user hovers is what the batch will write.
    ``seed`` defaults to the pipeline's seed (a re-roll passes a new one).
    """
    pipeline.check()
    full_shape = intensity.check_image(image).shape
    small, small_mask, scale = preview_copy(image, mask, max_side)
    seed = pipeline.seed if seed is None else seed
    out = []
    for k in range(n):
        params = pipeline.sample_params(full_shape, sample_seed(seed, item_index, k))
        s = pipeline.apply(small, params, small_mask, scale=scale)
        out.append((s.image, s.mask, params))
    return out
