"""Spots dock: where the review keys go (A accept, R reject, E edit, N / P next / previous),
as a mixin of :class:`~qbi_desktop.gui.docks.spots.SpotsPanel`.

They work in this dock, and on the image too while a review is under way and this dock is
shown: a reviewer clicks the image to look at a spot and goes on pressing A or R, so there the
review keys take the place of the Annotate panel's A (previous item) and E (eraser), which come
back when the Annotate panel is shown instead (the dock says so under its buttons)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut


class SpotKeysMixin:
    """Needs the panel's review, canvas, keys_label and the review slots (accept, reject,
    edit, step)."""

    def _install_review_keys(self) -> None:
        # the same keys in this dock and (while a review is shown) on the image
        self.shortcuts = []
        self.canvas_shortcuts = []
        for key, slot, what in self._review_keys():
            for owner, keep in ((self, self.shortcuts), (self.canvas, self.canvas_shortcuts)):
                sc = QShortcut(QKeySequence(key), owner)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.setWhatsThis(f"{what} (on the image too while the Spots panel is shown)")
                sc.activated.connect(slot)
                keep.append(sc)
        self._set_aside: list[QShortcut] = []  # canvas keys of other panels the review took
        self._keys_on_image = True
        self._shown: bool | None = None  # the dock in front (its tab selected), once known
        self._update_keys()

    # -- where the review keys go ----------------------------------------------------------------
    def _review_keys(self) -> list:
        """(key, slot, what Help > Keyboard Shortcuts says) of the review."""
        return [
            ("A", self.accept, "Accept the current spot"),
            ("R", self.reject, "Reject the current spot"),
            ("E", self.edit, "Edit the current spot with the brush"),
            ("N", lambda: self.step(1), "Next spot"),
            ("P", lambda: self.step(-1), "Previous spot"),
        ]

    def review_keys_on_image(self) -> bool:
        """A review with spots is under way and this dock is shown: its keys work on the image."""
        shown = self._shown
        if shown is None:  # before the dock's first visibility signal
            dock = self.parentWidget()
            shown = dock is not None and dock.isVisible() and not dock.visibleRegion().isEmpty()
        return self.review is not None and len(self.review) > 0 and shown

    def _update_keys(self, *_a) -> None:
        on = self.review_keys_on_image()
        if on != self._keys_on_image:
            self._keys_on_image = on
            mine = {sc.key().toString() for sc in self.canvas_shortcuts}
            if on:  # the canvas's own A / E (previous item, eraser) wait until the review hides
                self._set_aside = [
                    sc
                    for sc in self.canvas.findChildren(QShortcut)
                    if sc not in self.canvas_shortcuts
                    and sc.isEnabled()
                    and sc.key().toString() in mine
                ]
            for sc in self._set_aside:
                sc.setEnabled(not on)
            if not on:
                self._set_aside = []
            for sc in self.canvas_shortcuts:
                sc.setEnabled(on)
        keys = " ".join(k for k, _s, _w in self._review_keys())
        if on:
            self.keys_label.setText(
                f"Keys {keys} review spots here and on the image. The Annotate panel's "
                "A (previous item) and E (eraser) work on the image again when it is shown."
            )
        else:
            self.keys_label.setText(
                f"Keys {keys} review spots here, and on the image too once Detect has found "
                "spots (while this panel is shown)."
            )

    def _dock_visibility(self, shown: bool) -> None:
        # a dock behind another's tab is moved out of sight, not hidden: its signal says
        self._shown = shown
        self._update_keys()
