"""Model-input normalisation with Keras' semantics: rescale, sample/feature-wise centring and std
normalisation, ZCA whitening, and ``fit`` on a dataset.

This is a training-time step, separate from augmentation: augmented files keep their dtype and
physical values, and a model's loader standardises them. Statistics equal Keras'
``ImageDataGenerator.fit`` (same float32 arithmetic, same override rules: ZCA switches feature-wise
centring on and feature-wise std off; feature-wise std switches feature-wise centring on;
sample-wise std switches sample-wise centring on). Unlike Keras, :meth:`standardize` never changes
its input in place. Fitted statistics save to an ``.npz`` without pickles.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qbi_desktop.core.atomic import atomic_write_with
from qbi_desktop.core.errors import UserFacingError

_FLAGS = (
    "featurewise_center",
    "samplewise_center",
    "featurewise_std_normalization",
    "samplewise_std_normalization",
    "zca_whitening",
)


@dataclass
class Standardizer:
    rescale: float | None = None
    featurewise_center: bool = False
    samplewise_center: bool = False
    featurewise_std_normalization: bool = False
    samplewise_std_normalization: bool = False
    zca_whitening: bool = False
    zca_epsilon: float = 1e-6
    mean: np.ndarray | None = field(default=None, repr=False)
    std: np.ndarray | None = field(default=None, repr=False)
    zca_whitening_matrix: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.zca_whitening:
            self.featurewise_center = True
            self.featurewise_std_normalization = False
        if self.featurewise_std_normalization:
            self.featurewise_center = True
        if self.samplewise_std_normalization:
            self.samplewise_center = True

    @classmethod
    def from_options(cls, options: dict) -> Standardizer:
        """The standardisation part of a pipeline's options."""
        keys = ("rescale", "zca_epsilon", *_FLAGS)
        return cls(**{k: options[k] for k in keys if k in options})

    @property
    def needs_fit(self) -> bool:
        return self.featurewise_center or self.featurewise_std_normalization or self.zca_whitening

    @property
    def active(self) -> bool:
        return bool(self.rescale) or any(getattr(self, f) for f in _FLAGS)

    def fit(self, x: np.ndarray) -> Standardizer:
        """Feature-wise statistics of a batch (N, H, W, C) or (N, H, W) as Keras computes them."""
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[0] < 1:
            raise UserFacingError(f"fit: expected images (N, H, W[, C]), got shape {x.shape}")
        x = np.array(x, dtype=np.float32)
        if self.rescale:
            x *= self.rescale
        if self.featurewise_center:
            self.mean = np.mean(x, axis=(0, 1, 2)).reshape(1, 1, x.shape[3])
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=(0, 1, 2)).reshape(1, 1, x.shape[3])
            x /= self.std + 1e-6
        if self.zca_whitening:
            n = len(x)
            flat = np.reshape(x, (n, -1))
            if flat.shape[1] > 16384:
                raise UserFacingError(
                    f"zca_whitening: {flat.shape[1]} features per image would need a "
                    f"{flat.shape[1]}^2 matrix; use it on small images (e.g. 28 x 28) only"
                )
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = (u * s_inv).dot(u.T)
        return self

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Normalise one image (H, W[, C]) or a batch (N, H, W, C); returns a new float array."""
        x = np.asarray(x)
        squeeze = x.ndim == 2
        if squeeze:
            x = x[..., None]
        x = np.array(x, dtype=np.float32 if x.dtype != np.float64 else np.float64)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        if self.featurewise_center:
            if self.mean is None:
                warnings.warn(
                    "featurewise_center is set but fit() has not been called", stacklevel=2
                )
            else:
                x -= self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                warnings.warn(
                    "featurewise_std_normalization is set but fit() has not been called",
                    stacklevel=2,
                )
            else:
                x /= self.std + 1e-6
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                warnings.warn("zca_whitening is set but fit() has not been called", stacklevel=2)
            else:
                flat = x.reshape(-1, math.prod(x.shape[-3:]))
                x = np.reshape(flat @ self.zca_whitening_matrix, x.shape)
        return x[..., 0] if squeeze else x

    # --- persistence (npz, no pickles) ---

    def save(self, path: str | Path) -> None:
        settings = {k: getattr(self, k) for k in ("rescale", "zca_epsilon", *_FLAGS)}
        arrays = {"settings": np.array(json.dumps(settings))}
        for name in ("mean", "std", "zca_whitening_matrix"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        atomic_write_with(path, lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | Path) -> Standardizer:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                settings = json.loads(str(data["settings"]))
                arrays = {k: data[k] for k in ("mean", "std", "zca_whitening_matrix") if k in data}
        except (OSError, ValueError, KeyError) as exc:
            raise UserFacingError(f"{path}: not a standardisation file ({exc})") from exc
        allowed = {"rescale", "zca_epsilon", *_FLAGS}
        if not isinstance(settings, dict) or set(settings) - allowed:
            raise UserFacingError(f"{path}: unexpected settings {settings!r}")
        return cls(**settings, **arrays)
