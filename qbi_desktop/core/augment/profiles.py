"""Modality profiles: which augmentations a kind of data allows, and why the others are off.

A profile is a name, a description and ``disabled``: option name -> the reason it is off for this
modality (the dock shows the reason beside the greyed-out control). Built-ins cover CT,
neutron/X-ray radiographs, microscopy and natural images; users write their own as JSON::

    {"format": "qbi-augment-profile", "version": 1, "name": "my-beamline",
     "description": "...", "disabled": {"vertical_flip": "gravity points down in our cell"}}

Applying a pipeline that uses a disabled option raises :class:`UserFacingError` naming the option
and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbi_desktop.core.atomic import atomic_write_text
from qbi_desktop.core.augment.options import SPEC_BY_NAME, is_active
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jsonfile import read_json

PROFILE_FORMAT = "qbi-augment-profile"
PROFILE_VERSION = 1

_STANDARDIZE_HU = (
    "values are Hounsfield units with a fixed physical meaning; rescaling or "
    "normalising them changes which tissue a value stands for"
)
_TRANSMISSION = (
    "pixel values are transmission (counts); {what} breaks the physics "
    "(Beer-Lambert attenuation is multiplicative and fixed by the sample)"
)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    disabled: dict[str, str] = field(default_factory=dict)
    builtin: bool = False

    def reason(self, option: str) -> str | None:
        """Why ``option`` is off under this profile, or None when it is allowed."""
        return self.disabled.get(option)

    def check(self, options: dict[str, Any]) -> None:
        """Raise if any option that this profile disables is in use."""
        for name, value in options.items():
            why = self.disabled.get(name)
            if why is not None and is_active(name, value):
                raise UserFacingError(f"{name}: not allowed by the '{self.name}' profile: {why}")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "name": self.name,
            "description": self.description,
            "disabled": dict(self.disabled),
        }


BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "ct",
            "CT slices and volumes in Hounsfield units",
            {
                "horizontal_flip": "anatomy has a side: a mirrored CT shows organs on the "
                "wrong side",
                "vertical_flip": "anatomy has a side: a mirrored CT shows organs on the wrong side",
                "brightness_range": _STANDARDIZE_HU,
                "channel_shift_range": _STANDARDIZE_HU,
                "contrast_range": _STANDARDIZE_HU,
                "gamma_range": _STANDARDIZE_HU,
                "rescale": _STANDARDIZE_HU,
                "samplewise_center": _STANDARDIZE_HU,
                "samplewise_std_normalization": _STANDARDIZE_HU,
                "featurewise_center": _STANDARDIZE_HU,
                "featurewise_std_normalization": _STANDARDIZE_HU,
                "zca_whitening": _STANDARDIZE_HU,
                "poisson_noise": "reconstructed Hounsfield units are not detector counts, so "
                "counting noise does not apply",
            },
            builtin=True,
        ),
        Profile(
            "radiograph",
            "neutron or X-ray radiographs: transmission values / detector counts",
            {
                "brightness_range": _TRANSMISSION.format(what="a brightness factor"),
                "channel_shift_range": _TRANSMISSION.format(what="an intensity offset"),
                "contrast_range": _TRANSMISSION.format(what="a contrast change"),
                "gamma_range": _TRANSMISSION.format(what="a gamma curve"),
                "rescale": _TRANSMISSION.format(what="rescaling"),
                "samplewise_center": _TRANSMISSION.format(what="centring"),
                "samplewise_std_normalization": _TRANSMISSION.format(what="std normalisation"),
                "gaussian_noise": "noise in a radiograph follows counting statistics: use "
                "poisson_noise (a lower simulated dose) instead",
            },
            builtin=True,
        ),
        Profile(
            "microscopy",
            "light and fluorescence microscopy (orientation is arbitrary)",
            {
                "channel_shift_range": "each channel is a separate stain or fluorophore; a "
                "common offset fakes expression levels",
            },
            builtin=True,
        ),
        Profile(
            "natural", "photographs and other natural images: everything allowed", {}, builtin=True
        ),
    )
}


def profile_from_json(data: Any, source: str = "profile") -> Profile:
    """Validate a profile document; errors name the field."""
    if not isinstance(data, dict):
        raise UserFacingError(f"{source}: expected a JSON object")
    allowed = {"format", "version", "name", "description", "disabled"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise UserFacingError(f"{source}: {unknown[0]}: unknown field")
    if data.get("format") != PROFILE_FORMAT:
        raise UserFacingError(
            f"{source}: format: expected {PROFILE_FORMAT!r}, got {data.get('format')!r}"
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise UserFacingError(f"{source}: version: expected a positive integer, got {version!r}")
    if version > PROFILE_VERSION:
        raise UserFacingError(
            f"{source}: version: {version} is newer than this app understands "
            f"({PROFILE_VERSION}); update QBI Desktop"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UserFacingError(f"{source}: name: expected a non-empty text")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise UserFacingError(f"{source}: description: expected a text")
    disabled = data.get("disabled", {})
    if not isinstance(disabled, dict):
        raise UserFacingError(f"{source}: disabled: expected an object option -> reason")
    for option, why in disabled.items():
        if option not in SPEC_BY_NAME:
            raise UserFacingError(f"{source}: disabled.{option}: unknown option")
        if not isinstance(why, str) or not why.strip():
            raise UserFacingError(f"{source}: disabled.{option}: give the reason as a text")
    return Profile(name.strip(), description, dict(disabled))


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    return profile_from_json(read_json(path, "the profile"), str(path))


def save_profile(profile: Profile, path: str | Path) -> None:
    atomic_write_text(path, json.dumps(profile.to_json(), indent=2) + "\n")


def user_profile_dir() -> Path:
    from qbi_desktop.core.paths import user_dir

    return Path(user_dir("config")) / "augment-profiles"


def available_profiles(extra_dirs: list[Path] | None = None) -> dict[str, Profile]:
    """Built-ins plus every valid ``*.json`` in the user's profile folder (and ``extra_dirs``).

    A broken user file is skipped here (the dock lists it with :func:`load_profile`'s message);
    a user profile may not reuse a built-in name.
    """
    found = dict(BUILTIN_PROFILES)
    dirs = list(extra_dirs or [])
    try:
        dirs.append(user_profile_dir())
    except Exception:  # no user folder on this machine: built-ins only
        pass
    for folder in dirs:
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).glob("*.json")):
            try:
                prof = load_profile(path)
            except UserFacingError:
                continue
            if prof.name not in BUILTIN_PROFILES:
                found.setdefault(prof.name, prof)
    return found


def get_profile(name: str, extra_dirs: list[Path] | None = None) -> Profile:
    profiles = available_profiles(extra_dirs)
    if name not in profiles:
        raise UserFacingError(
            f"profile: {name!r} is not known (known: {', '.join(sorted(profiles))})"
        )
    return profiles[name]
