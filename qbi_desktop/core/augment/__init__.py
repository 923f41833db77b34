"""Augmentation engine: Keras-compatible (and corrected) transforms, pipelines, profiles, batch.

Public API (see each module for details):

- :func:`apply_transform` -- one explicit Keras parameter dict on an image; the compatibility
  contract with ``ImageDataGenerator.apply_transform`` (``keras_compat=False`` for the corrected
  semantics).
- :class:`Pipeline` -- validated options, ``keras_compat``, ``seed``, ``profile``;
  ``sample_params``,
  ``apply``, ``augment``, JSON ``save``/``load``.
- :func:`preview` / :func:`preview_copy` -- fast samples on a preview-sized copy, with parameters.
- :class:`Standardizer` -- rescale / centring / std / ZCA with Keras' ``fit`` statistics.
- :mod:`.profiles` -- modality profiles (built-in and user JSON).
- :mod:`.batch` -- write K augmented copies of a dataset (processes or dask), resumable.
- :mod:`.cvwarp` -- the OpenCV resampler (option ``resampler="opencv"``, and the default
  ``"fast"`` wherever OpenCV is installed).
"""

from qbi_desktop.core.augment.keras_compat import KERAS_KEYS, apply_transform
from qbi_desktop.core.augment.options import DEFAULTS, SPECS
from qbi_desktop.core.augment.pipeline import (
    PIPELINE_FORMAT,
    PIPELINE_VERSION,
    Pipeline,
    Sample,
    preview,
    preview_copy,
    sample_seed,
)
from qbi_desktop.core.augment.profiles import (
    BUILTIN_PROFILES,
    Profile,
    available_profiles,
    get_profile,
    load_profile,
    save_profile,
)
from qbi_desktop.core.augment.standardize import Standardizer

__all__ = [
    "BUILTIN_PROFILES",
    "DEFAULTS",
    "KERAS_KEYS",
    "PIPELINE_FORMAT",
    "PIPELINE_VERSION",
    "SPECS",
    "Pipeline",
    "Profile",
    "Sample",
    "Standardizer",
    "apply_transform",
    "available_profiles",
    "get_profile",
    "load_profile",
    "preview",
    "preview_copy",
    "sample_seed",
    "save_profile",
]
