"""Calibrate annotators on simulated truth: how good is a person's labelling, measured.

The simulator knows every spot and object exactly. A simulated item's provenance holds the
parameters and seed, so its truth is made again bit for bit (nothing stored can drift from it).
Each annotator's own mask of such an item (drawn blind in the normal tools) is compared with
the truth:

* pixel sensitivity (share of truth pixels they marked) and precision (share of their pixels
  that are truth),
* object sensitivity (truth spots/objects they touched) and precision (their drawn components
  that touch a truth one),
* boundary bias: the mean signed distance, in pixels, from the edge pixels of their components
  that touch the truth to the truth's edge; positive means drawn too large, negative too tight.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from qbi_desktop.core.catalog import opinions
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.jobs import Job, Progress

if TYPE_CHECKING:
    from qbi_desktop.core.catalog.project import Project

_EIGHT = np.ones((3, 3), bool)
#: Who made the truth (simulated items are added as this annotator): never calibrated.
SIMULATOR = "simulator"


@dataclass(frozen=True)
class Calibration:
    """One annotator against the truth over some items (sums, so items can be pooled)."""

    items: int
    truth_pixels: int
    marked_pixels: int
    hit_pixels: int
    truth_objects: int
    found_objects: int
    drawn_objects: int
    true_drawn_objects: int
    edge_pixels: int
    edge_distance_sum: float

    @property
    def sensitivity(self) -> float:
        return self.hit_pixels / self.truth_pixels if self.truth_pixels else math.nan

    @property
    def precision(self) -> float:
        return self.hit_pixels / self.marked_pixels if self.marked_pixels else math.nan

    @property
    def object_sensitivity(self) -> float:
        return self.found_objects / self.truth_objects if self.truth_objects else math.nan

    @property
    def object_precision(self) -> float:
        return self.true_drawn_objects / self.drawn_objects if self.drawn_objects else math.nan

    @property
    def boundary_bias(self) -> float:
        return self.edge_distance_sum / self.edge_pixels if self.edge_pixels else math.nan

    def __add__(self, other: Calibration) -> Calibration:
        return Calibration(*(a + b for a, b in zip(_fields(self), _fields(other), strict=True)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "sensitivity": self.sensitivity,
            "precision": self.precision,
            "object_sensitivity": self.object_sensitivity,
            "object_precision": self.object_precision,
            "boundary_bias_px": self.boundary_bias,
            "truth_objects": self.truth_objects,
            "drawn_objects": self.drawn_objects,
        }


def _fields(c: Calibration) -> tuple:
    return tuple(getattr(c, name) for name in Calibration.__dataclass_fields__)


def _edges(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def calibrate_mask(truth: np.ndarray, drawn: np.ndarray) -> Calibration:
    """Compare one drawn mask with the truth (non-zero = foreground in both)."""
    truth = np.asarray(truth) != 0
    drawn = np.asarray(drawn) != 0
    if truth.shape != drawn.shape:
        raise ValueError(f"mask shapes differ: truth {truth.shape}, drawn {drawn.shape}")
    t_lab, n_t = ndimage.label(truth, structure=_EIGHT)
    d_lab, n_d = ndimage.label(drawn, structure=_EIGHT)
    both = truth & drawn
    found = np.unique(t_lab[both]).size
    touching = np.unique(d_lab[both])
    # signed distance of the drawn edge pixels to the truth's edge: + outside, - inside
    t_edge = _edges(truth)
    edge_pixels, edge_sum = 0, 0.0
    if touching.size and t_edge.any():
        distance = ndimage.distance_transform_edt(~t_edge)
        edge = _edges(drawn) & np.isin(d_lab, touching)
        signed = np.where(truth[edge], -distance[edge], distance[edge])
        edge_pixels, edge_sum = int(edge.sum()), float(signed.sum())
    return Calibration(
        1,
        int(truth.sum()),
        int(drawn.sum()),
        int(both.sum()),
        int(n_t),
        int(found),
        int(n_d),
        int(touching.size),
        edge_pixels,
        edge_sum,
    )


def simulated_truth(provenance_json: str) -> np.ndarray | None:
    """The exact truth mask of a simulated item, made again from its provenance (None if the
    item was not made by the geometric simulator)."""
    from qbi_desktop.core.catalog.simulated import truth_mask
    from qbi_desktop.core.simulate import SimulationParams, simulate_radiograph

    prov = json.loads(provenance_json or "{}")
    if prov.get("simulator") != "qbi_desktop.core.simulate" or prov.get("phantom", "geometric") != (
        "geometric"
    ):
        return None
    params = SimulationParams.from_dict(prov["params"])
    sim = simulate_radiograph(params, int(prov["seed"]))
    return truth_mask(sim, prov.get("mask", "spots"))


@dataclass
class CalibrationReport:
    per_annotator: dict[str, Calibration]
    per_item: dict[tuple[int, str], Calibration]
    skipped: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_annotator": {a: c.to_dict() for a, c in sorted(self.per_annotator.items())},
            "per_item": [
                {"item": i, "annotator": a, **c.to_dict()}
                for (i, a), c in sorted(self.per_item.items())
            ],
            "skipped": self.skipped,
        }


def calibration_job(project: Project) -> Job[CalibrationReport]:
    """Job: every annotator's masks of simulated items against the exact truth."""
    db = project.connect()
    try:
        masks = opinions.table(db, "mask")
        rows = db.execute(
            "SELECT id, name, provenance FROM items WHERE provenance_kind = 'simulated'"
        ).fetchall()
        rows = [r for r in rows if any(a != SIMULATOR for a in masks.get(r[0], {}))]
        per_item: dict[tuple[int, str], Calibration] = {}
        skipped: list[str] = []
        for n, (item, name, prov) in enumerate(rows):
            yield Progress(n, len(rows), f"calibration: {name}")
            truth = simulated_truth(prov)
            if truth is None:
                skipped.append(f"item {item} ({name}): not made by the geometric simulator")
                continue
            for annotator, stored in masks[item].items():
                if annotator == SIMULATOR:
                    continue
                try:
                    drawn = opinions.load_mask(project, stored, item, annotator, truth.shape)
                except UserFacingError as exc:
                    skipped.append(str(exc))
                    continue
                per_item[(item, annotator)] = calibrate_mask(truth, drawn)
        per_annotator: dict[str, Calibration] = {}
        for (_item, annotator), c in per_item.items():
            per_annotator[annotator] = (
                per_annotator[annotator] + c if annotator in (per_annotator) else c
            )
        yield Progress(len(rows), len(rows), f"{len(per_annotator)} annotator(s) calibrated")
        return CalibrationReport(per_annotator, per_item, skipped)
    finally:
        with contextlib.suppress(Exception):
            db.close()
