"""Which regression targets an augmented copy keeps, and why the others are dropped.

A target's definition (``core/catalog/targets.py``) names the families of augmentation that can
change its value (``changes_with``): "crop_zoom" (shift, zoom, crop, shear, elastic - a count or
a size changes when content leaves the frame or is scaled), "rotation_flip", "intensity"
(brightness, contrast, gamma, blur, noise, standardisation - a measured intensity changes).
A copy keeps a target when its pipeline uses none of them: a rotation/flip/noise pipeline keeps a
cell count; a zoom drops it, and the batch dialog says so before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qbi_desktop.core.augment.options import SPEC_BY_NAME, is_active
from qbi_desktop.core.augment.pipeline import Pipeline

#: options of the "geometry" kind and the family each belongs to (others: by their kind)
GEOMETRY_FAMILY = {
    "rotation_range": "rotation_flip",
    "horizontal_flip": "rotation_flip",
    "vertical_flip": "rotation_flip",
    "width_shift_range": "crop_zoom",
    "height_shift_range": "crop_zoom",
    "shear_range": "crop_zoom",
    "zoom_range": "crop_zoom",
    "random_crop": "crop_zoom",
    "elastic": "crop_zoom",
}
KIND_FAMILY = {"intensity": "intensity", "noise": "intensity", "standardize": "intensity"}


@dataclass(frozen=True)
class TargetFate:
    """Whether copies keep the target ``name``; ``reason`` says why in a few words, naming the
    pipeline's options as the pipeline JSON and the command line do (``rotation_range``).
    ``options`` (the options that decide) and ``families`` let a front end say the same in its
    own labels: :meth:`say`."""

    name: str
    kept: bool
    reason: str
    options: tuple[str, ...] = ()
    families: tuple[str, ...] = ()

    def say(self, label: Callable[[str], str] | None = None) -> str:
        """``reason`` with each option named by ``label(option)`` (e.g. the dock's "Rotation
        range"); a reason of another kind is said as it is."""
        if label is None or self.reason != _reason(self.kept, list(self.options), self.families):
            return self.reason  # a reason of its own (an unreadable pipeline)
        return _reason(self.kept, [label(o) for o in self.options], self.families)


def _reason(kept: bool, options: list[str], families: tuple[str, ...]) -> str:
    if kept:
        return f"kept: the pipeline ({', '.join(options) or 'nothing'}) cannot change it"
    which = " and ".join(f.replace("_", "/") for f in families)
    return f"dropped: {', '.join(options)} may change it (it changes with {which})"


def family_of(option: str) -> str | None:
    spec = SPEC_BY_NAME[option]
    return GEOMETRY_FAMILY.get(option) or KIND_FAMILY.get(spec.kind)


def active_families(pipeline: Pipeline) -> dict[str, list[str]]:
    """{family: the pipeline's active options in it}."""
    out: dict[str, list[str]] = {}
    for name, value in pipeline.options.items():
        family = family_of(name)
        if family is not None and is_active(name, value):
            out.setdefault(family, []).append(name)
    return out


def target_fates(
    pipeline: Pipeline, names: list[str], definitions: dict[str, Any]
) -> list[TargetFate]:
    """For each target name: kept or dropped by this pipeline, and why. A target without a
    definition changes with crop/zoom (the safe default for counts and sizes)."""
    used = active_families(pipeline)
    fates = []
    for name in names:
        d = definitions.get(name)
        changes = tuple(d.changes_with) if d is not None else ("crop_zoom",)
        hits = [(f, used[f]) for f in changes if f in used]
        if not hits:
            options = sorted({o for opts in used.values() for o in opts})
            fates.append(TargetFate(name, True, _reason(True, options, ()), tuple(options)))
            continue
        options = [o for _f, opts in hits for o in opts]
        families = tuple(f for f, _o in hits)
        reason = _reason(False, options, families)
        fates.append(TargetFate(name, False, reason, tuple(options), families))
    return fates


def project_target_fates(root: str | Path, pipeline: Pipeline) -> list[TargetFate]:
    """:func:`target_fates` for every target of the project in ``root`` (its own connection)."""
    from qbi_desktop.core.catalog import open_project
    from qbi_desktop.core.catalog import targets as catalog_targets

    with open_project(root) as project:
        names = catalog_targets.target_names(project)
        return target_fates(pipeline, names, catalog_targets.definitions(project))


def describe(fates: list[TargetFate], label: Callable[[str], str] | None = None) -> str:
    """One line per target for the batch dialog and the CLI; ``label`` names the options in
    a front end's words (the dock passes its labels), see :meth:`TargetFate.say`."""
    if not fates:
        return "The project has no regression targets."
    return "\n".join(f"{'✓' if f.kept else '✗'} {f.name}: {f.say(label)}" for f in fates)
