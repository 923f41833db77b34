"""Simulated radiographs as project items, with their exact ground truth and provenance.

Why in the catalog: a simulated image is only useful for training and scoring when its truth
(the spot and object label images the simulator knows exactly) and its recipe (parameters and
seed) travel with it. Each generated item gets

* its image in the project's ``images/`` folder (uint16 TIFF, content hash like any file item),
* its mask (``mask="spots"``: 1 = gamma spot; ``"objects"``: an instance mask, 1..m one id
  per phantom, all of class "object"; ``"both"``: 1 = object, 2 = spot, spots on top),
* regression targets ``spot_count`` and ``object_count`` (what a counting model would learn),
* provenance ``simulated`` with the simulator's parameters, the image's own seed, the set seed
  and the index, so :func:`qbi_desktop.core.simulate.simulate_radiograph` remakes it bit for bit.

Every item is one transaction (image file, mask file and catalog rows together), so a job that
is cancelled or fails keeps the items finished so far, each complete, and nothing half-written.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qbi_desktop.core.catalog.images import hash_file
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress
from qbi_desktop.core.simulate import (
    SimulatedRadiograph,
    SimulationParams,
    derive_image_seed,
    simulate_radiograph,
)

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

MASK_KINDS = ("spots", "objects", "both")
#: What the mask values mean, per mask kind, as the project metadata that says it: class masks
#: (``mask_classes``, value -> class) or instance masks (``mask_instances``: each non-zero
#: value one object of that class, which COCO and labelme export as one annotation each).
MASK_MEANING: dict[str, dict[str, Any]] = {
    "spots": {"mask_classes": {"1": "spot"}},
    "objects": {"mask_instances": "object"},
    "both": {"mask_classes": {"1": "object", "2": "spot"}},
}


def truth_mask(sim: SimulatedRadiograph, kind: str = "spots") -> np.ndarray:
    """The ground-truth mask of one simulated radiograph (see the module docstring)."""
    if kind == "spots":
        return sim.spot_mask.astype(np.uint8)
    if kind == "objects":
        return sim.object_labels
    if kind == "both":
        out = (sim.object_labels > 0).astype(np.uint8)
        out[sim.spot_mask] = 2
        return out
    raise UserFacingError(f"mask kind {kind!r}: use one of {', '.join(MASK_KINDS)}")


def simulate_into_project_job(
    project: Project,
    count: int,
    seed: int = 0,
    params: SimulationParams | None = None,
    *,
    mask: str = "spots",
    annotator: str | None = "simulator",
    split: str | None = None,
    simulate: Callable[[int], SimulatedRadiograph] | None = None,
    phantom: str = "geometric",
    extra_provenance: dict[str, Any] | None = None,
) -> Job[list[int]]:
    """Job: add ``count`` simulated radiographs to ``project``; returns the new item ids.

    Image ``i`` uses :func:`derive_image_seed` ``(seed, i)``, like ``write_simulated_set``, so a
    set made in a project and one written to a folder with the same seed hold the same images.
    ``simulate`` replaces the geometric simulator (e.g. template phantoms): it gets the image
    seed and returns a :class:`SimulatedRadiograph`; ``phantom`` and ``extra_provenance`` say
    in the provenance what it did. Runs on a worker: it uses its own catalog connection.
    """
    p = params if params is not None else SimulationParams()
    if not isinstance(count, int | np.integer) or isinstance(count, bool) or count < 1:
        raise UserFacingError(f"number of images must be an integer >= 1, got {count!r}")
    if mask not in MASK_KINDS:
        raise UserFacingError(f"mask kind {mask!r}: use one of {', '.join(MASK_KINDS)}")
    make = simulate or (lambda image_seed: simulate_radiograph(p, image_seed))
    return _job(
        project,
        int(count),
        int(seed),
        p,
        mask,
        annotator,
        split,
        make,
        phantom,
        dict(extra_provenance or {}),
    )


def _job(
    project: Project,
    count: int,
    seed: int,
    p: SimulationParams,
    mask: str,
    annotator: str | None,
    split: str | None,
    make: Callable[[int], SimulatedRadiograph],
    phantom: str,
    extra: dict[str, Any],
) -> Job[list[int]]:
    from qbi_desktop.core.catalog.project import NewItem

    db = project.connect()
    ids: list[int] = []
    try:
        meaning = _mask_meaning_update(project, db, mask)
        if meaning:
            with project.transaction(db) as tx:
                tx.set_metadata(**meaning)
        params_dict = p.to_dict()
        yield Progress(0, count, "simulating image 1")
        for index in range(count):
            image_seed = derive_image_seed(seed, index)
            sim = make(image_seed)
            name = f"sim_s{seed}_{index:04d}"
            with project.transaction(db) as tx:
                path = tx.store_image(sim.image, name)
                item = NewItem(
                    name=name,
                    hash=hash_file(path),
                    path=path,
                    size=Path(path).stat().st_size,
                    width=int(sim.image.shape[1]),
                    height=int(sim.image.shape[0]),
                    split=split,
                    annotator=annotator,
                    provenance_kind="simulated",
                    provenance={
                        "simulator": "qbi_desktop.core.simulate",
                        "phantom": phantom,
                        "params": params_dict,
                        "seed": image_seed,
                        "set_seed": seed,
                        "index": index,
                        "mask": mask,
                        **extra,
                    },
                    metadata={
                        "spot_count": len(sim.spots),
                        "objects": [
                            {k: v for k, v in o.items() if k in ("id", "kind", "area_px")}
                            for o in sim.objects
                        ],
                    },
                    targets={
                        "spot_count": float(len(sim.spots)),
                        "object_count": float(len(sim.objects)),
                    },
                    mask=truth_mask(sim, mask),
                )
                ids += tx.add_items([item])
            yield Progress(index + 1, count, f"{name}: {len(sim.spots)} spots")
        return ids
    finally:
        with contextlib.suppress(Exception):
            db.close()


def _mask_meaning_update(project: Project, db: Any, kind: str) -> dict[str, Any]:
    """The metadata to set so the project says what ``kind`` masks mean ({} if it already
    does); refuses a project whose masks mean something else, before anything is made."""
    import json

    meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    have_classes = meta.get("mask_classes") or {}
    have_instances = meta.get("mask_instances")
    wanted = MASK_MEANING[kind]
    if "mask_instances" in wanted:
        if not have_classes and have_instances in (None, wanted["mask_instances"]):
            return {} if have_instances else dict(wanted)
    elif have_instances is None:
        classes = wanted["mask_classes"]
        if all(have_classes.get(k, name) == name for k, name in classes.items()):
            merged = {**have_classes, **classes}
            return {} if merged == have_classes else {"mask_classes": merged}
    have = (
        f"instance masks of {have_instances!r} objects"
        if have_instances
        else "class masks " + ", ".join(f"{k} = {v}" for k, v in sorted(have_classes.items()))
    )
    raise UserFacingError(
        f"{project.root}: the project's masks are {have}; simulated {kind!r} masks would mean "
        "something else in the same project. Choose the matching mask kind or a new project."
    )
