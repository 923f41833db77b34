"""Showing the current document: its first frame, then panels, slices, levels, background work."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer

from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.core.io import decode_plane_job
from qbi_desktop.gui.docks.levels import colormap_lut
from qbi_desktop.gui.document import ImageDocument

# after a slice step, the histogram and info panels wait this long for the next step
SLICE_PANELS_DELAY_MS = 60


class DisplayMixin:
    """The current document on the canvas and in the viewer's panels."""

    def show_document(self, document: ImageDocument, keep_view: bool = False) -> None:
        self.current = document
        self.announced = None
        self._refresh_file_names()  # the window's title names the document
        self.slice_bar.configure(document.source.n_slices, document.index)
        # Draw the new image now, and let the panels hear of it afterwards (next event-loop
        # pass): their work never delays the first frame the user sees. On an empty canvas the
        # canvas's listeners (annotation session, boxes, measurements) are told after the paint
        # too; when another image was shown they are told before it, so that its overlays never
        # show over the new image and its session is switched at once.
        deferred = self.canvas.plane is None
        self._draw_plane(keep_view=keep_view, announce=not deferred)
        self._plane_announced = not deferred
        self.canvas.viewport().repaint()
        QTimer.singleShot(0, lambda: self._after_first_frame(document))

    def _after_first_frame(self, document: ImageDocument) -> None:
        if self.current is not document or self.announced is document:
            return
        try:
            refined = document.refine_sample(self.levels_panel.percentiles)
        except UserFacingError as exc:  # unreadable since its first frame: said, left as drawn
            self._unreadable(exc)
            return
        if refined:
            self.canvas.set_levels(*document.levels)
        if not self._plane_announced:
            self._plane_announced = True
            self.canvas.plane_changed.emit(self.canvas.plane)
        self._update_panels()
        self.announced = document
        self.document_shown.emit(document)

    def _show_plane(self, keep_view: bool) -> None:
        self._draw_plane(keep_view)
        self._update_panels()

    def _draw_plane(self, keep_view: bool, announce: bool = True) -> None:
        document = self.current
        if document is None:
            return
        plane = document.plane()
        pyramid = document.pyramid()
        self.canvas.set_levels(*document.levels)
        overview, document.overview = document.overview, None  # used once, for the first frame
        self.canvas.set_plane(
            plane, pyramid, keep_view=keep_view, overview=overview, announce=announce
        )

    def _update_panels(self) -> None:
        """Histogram, levels, info and slice label of the shown plane; background decoding."""
        document = self.current
        if document is None or not self._panels_from_sample(document):
            return
        label = document.source.slice_label(document.index)
        self.slice_bar.label.setText(label)
        self._start_background_for_plane(document)

    def _start_background_for_plane(self, document: ImageDocument) -> None:
        """Decode tiles of a compressed plane, or build the overview pyramid of a large one."""
        for task in (self._decode_task, self._pyramid_task):
            if task is not None and not task.finished:
                task.cancel()
        self._decode_task = self._pyramid_task = None
        plane = document.plane()
        pyramid = document.pyramid()
        index = document.index
        if not plane.complete:
            last_refresh = [0.0]

            def on_tiles(_progress) -> None:
                # The worker already put the tiles into the plane and the pyramid: redraw a few
                # times a second, not per tile.
                now = time.perf_counter()
                showing = self.current is document and document.index == index
                if showing and now - last_refresh[0] > 0.12:
                    last_refresh[0] = now
                    self.canvas.refresh_all()

            def on_decoded(_plane) -> None:
                if self.current is document and document.index == index:
                    document.refresh_sample()
                    if not document.levels_manual:
                        document.auto_levels(*self.levels_panel.percentiles)
                    self._show_plane(keep_view=True)

            self._decode_task = self.tasks.submit(
                f"Decode {document.title}"
                + (f" slice {index}" if document.source.n_slices > 1 else ""),
                lambda: decode_plane_job(document.source, index, pyramid),
                on_progress=on_tiles,
                on_result=on_decoded,
                on_error=self.report_error,
            )
        elif pyramid is not None and not pyramid.complete:

            def on_built(_pyramid) -> None:
                if self.current is document and document.index == index:
                    self.canvas.refresh_base()

            self._pyramid_task = self.tasks.submit(
                f"Overview of {document.title}",
                pyramid.build_job,
                on_result=on_built,
                on_error=self.report_error,
            )

    def go_to_slice(self, index: int) -> None:
        document = self.current
        if document is None:
            return
        index = max(0, min(int(index), document.source.n_slices - 1))
        if index == document.index:
            return
        previous, histogram = document.index, document.histogram
        document.index = index
        # The step draws the slice first: its histogram (a full-plane sample, ~60 ms at 2048^2)
        # and the info panel follow after the paint, once per burst of steps (an arrow key held
        # down), from _slice_panels_later. A stack's levels stay those of the scan.
        document.histogram = None
        self.slice_bar.configure(document.source.n_slices, index)
        try:
            self._draw_plane(keep_view=True)
        except UserFacingError as exc:  # a damaged slice: named, and the last one stays shown
            document.index, document.histogram = previous, histogram
            self.slice_bar.configure(document.source.n_slices, previous)
            self.report_error(str(exc))
            return
        self.slice_bar.label.setText(document.source.slice_label(index))
        self._start_background_for_plane(document)
        timer = getattr(self, "_slice_panels_timer", None)
        if timer is None:
            timer = self._slice_panels_timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(SLICE_PANELS_DELAY_MS)
            timer.timeout.connect(self._slice_panels_later)
        timer.start()  # restarted by each step: the panels follow the last one

    def _slice_panels_later(self) -> None:
        if self.current is not None:
            self._panels_from_sample(self.current)

    def _panels_from_sample(self, document: ImageDocument) -> bool:
        """Histogram, levels and info of the shown plane in their panels. Both read the plane:
        False when it cannot be read any more (a damaged slice, its file closed or changed
        since it was drawn), the file named."""
        try:
            if document.histogram is None:
                document.refresh_sample()
            rows = document.info_rows()
        except UserFacingError as exc:
            self._unreadable(exc)
            return False
        integer = document.source.dtype.kind in "uib"
        self.levels_panel.set_histogram(*document.histogram, integer=integer)
        self.levels_panel.set_levels(*document.levels)
        self.info_panel.show_info(rows)
        return True

    def _unreadable(self, exc: UserFacingError) -> None:
        if self.isVisible():  # not while the window closes
            self.report_error(str(exc))

    def step_slice(self, delta: int) -> None:
        if self.current is not None:
            self.go_to_slice(self.current.index + delta)

    def auto_levels(self) -> None:
        document = self.current
        if document is None:
            return
        document.levels_manual = False
        if document.histogram is None:  # a slice stepped to whose sample is not taken yet
            document.refresh_sample()
        vmin, vmax = document.auto_levels(*self.levels_panel.percentiles)
        self.canvas.set_levels(vmin, vmax)
        self.levels_panel.set_levels(vmin, vmax)

    def set_levels(self, vmin: float, vmax: float) -> None:
        """Levels chosen by the user (dock, or code acting for the user)."""
        document = self.current
        if document is None or vmax <= vmin:
            return
        document.levels = (vmin, vmax)
        document.levels_manual = True
        self.canvas.set_levels(vmin, vmax)
        self.levels_panel.set_levels(vmin, vmax)

    def _colormap_changed(self, name: str) -> None:
        self.canvas.set_lut(colormap_lut(name))
