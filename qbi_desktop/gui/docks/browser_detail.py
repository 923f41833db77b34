"""The Browser's lines about what the table shows: the item count, and the detail line under
the table (the current item's label, split, review, targets and origin; or why no row is shown)
(mixed into the Browser panel)."""

from __future__ import annotations

import json
from typing import Any

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.browser_project import NO_PROJECT

# Drawn augmentation parameters that leave the image as it is: not worth naming in the detail line.
NO_CHANGE = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1, "brightness": 1}


class BrowserDetail:
    """Mixed into BrowserPanel: the count after a reload and the current item's description."""

    def _reloaded(self) -> None:
        total = len(self.project) if self.project else 0
        shown = self.model.rowCount()
        # while a worker counts, the rows shown are the first ones only: never an exact-looking
        # count that is not the count
        more = "+" if self.model.count_pending else ""
        text = f"{shown:,}{more} of {total:,} items" + (" (counting…)" if more else "")
        self.count_label.setText(text if self.project else "")
        self._show_filter_state()
        if shown and not self.table.currentIndex().isValid():
            self.select_rows([0], reveal=False)
        self._say_when_empty()

    def _say_when_empty(self) -> None:
        """No row to describe (also after "Label next" reorders): say why, not the last item."""
        if self.model.rowCount() or self.project is None:
            return
        self.detail.setText(
            "No items yet: Dataset > Import…"
            if not len(self.project)
            else "No items shown: the filters or Label next leave none"
        )

    def _current_changed(self, current, _previous) -> None:
        if not current.isValid() or self.project is None:
            self.detail.setText("" if self.project else NO_PROJECT)
            return
        item = self.model.item(current.row())
        parts = [f"<b>{item['name']}</b> (id {item['id']})"]
        hint = getattr(getattr(self, "suggestions", None), "current_text", None)
        said = hint(item) if hint is not None else ""  # browser_suggest.py
        if said:  # first: the Suggested column may be scrolled out of a narrow dock
            parts.insert(0, said)
        if item["label"] is not None:
            parts.append(
                f"label <b>{item['label']}</b>"
                + (f" by {item['annotator']}" if item["annotator"] else "")
            )
        parts.append(f"split {item['split'] or 'unassigned'}")
        parts.append(item["review"].replace("_", " "))
        if item["targets"]:
            parts.append(", ".join(f"{k} = {v:.4g}" for k, v in item["targets"].items()))
        origin, details = self._origin(item)
        parts.append(origin)
        self.detail.setText(" · ".join(parts))
        self.detail.setToolTip(details)

    def _origin(self, item: dict[str, Any]) -> tuple[str, str]:
        """An item's provenance in a few words, and in full (tooltip): made from which item,
        with which drawn parameters and seed; or simulated with which phantom and seed."""
        kind = item["provenance"]
        if kind == "acquired" or self.project is None:
            return kind, ""
        try:
            prov = self.project.get(item["id"])["provenance_params"]
        except UserFacingError:
            return kind, ""
        full = json.dumps(prov, indent=1, default=str)
        if kind == "augmented":
            params = prov.get("params") or {}
            drawn = ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in params.items()
                if v is not None
                and v is not False
                and k != "noise_seed"
                and not (k in NO_CHANGE and v == NO_CHANGE[k])
            )
            text = f"augmented from item {prov.get('parent')} (copy {prov.get('copy')}"
            return text + (f": {drawn})" if drawn else ")"), full
        if kind == "simulated":
            text = f"simulated ({prov.get('phantom', 'phantom')}, seed {prov.get('seed')})"
            return text, full
        return kind, full
