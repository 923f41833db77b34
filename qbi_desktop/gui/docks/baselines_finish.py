"""Taking a finished baseline run into the Baselines dock without stalling the GUI thread.

A finished run's row, pictures and the switch to the results tab each take their own event
(:meth:`FinishMixin._show_finished`), the page's plots paint one per event after the switch
(:meth:`FinishMixin._bring_forward`), and the results page is drawn once off screen before the
first run (:meth:`FinishMixin._warm_once`), so the first result costs what later ones do.
Mixed into :class:`~qbi_desktop.gui.docks.baselines.BaselinesPanel`, whose widgets it uses.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRect, QTimer

from qbi_desktop.gui.docks.baselines_history import RunRecord, model_text, score_pair, short_source

RESULTS_PAGE = "baselines"  # the central tab of the results
RESULTS_TITLE = "Baseline results"
WARM_AFTER_MS = 1000  # the results page is drawn once off screen this long after the dock shows
WARM_STEP_MS = 50


class FinishMixin:
    def _warm_once(self) -> None:
        """After the dock is first shown: :meth:`_warm_results_page` soon."""
        if not self._warmed:
            self._warmed = True
            QTimer.singleShot(WARM_AFTER_MS, self, self._warm_results_page)

    def _warm_results_page(self) -> None:
        """Lay out and draw the (still empty) results page once, off screen, in pieces.

        The first time a result was shown, its page was polished, laid out and drawn for the
        first time (styles, fonts, the plots' first layout): ~50 ms of the GUI thread in one
        piece at the first run's end, against ~20 ms later. Done here, while the user is still
        filling in the form, each picture on its own event."""
        tabs = self.window.central_tabs
        if tabs.indexOf(self.tabs) >= 0 or tabs.currentWidget() is None:
            return  # already shown: nothing to warm
        self.tabs.resize(tabs.currentWidget().size())  # about the size it will be shown at
        view = self.result_view
        pieces = [view.heatmap, view.bars, view.gallery, self.tabs]
        for n, widget in enumerate(pieces):
            QTimer.singleShot(n * WARM_STEP_MS, self, widget.grab)

    def _finish_step(self, record: RunRecord, step: int) -> None:
        # A 1 ms timer, not 0: a zero-delay call is a posted event and runs in the same pass of
        # the event loop as the previous step and its repaint, with no other event in between.
        QTimer.singleShot(1, self, lambda: self._show_finished(record, step))

    def _show_finished(self, record: RunRecord, step: int = 0) -> None:
        if record not in self.model.records:
            return
        if step == 0:  # the history row and the one-line summary
            self._resize_columns()
            if record.state == "done":
                self.summary.setText(
                    f"Run {record.id}: <b>{score_pair(record)[0]}</b> "
                    f"({model_text(record.config)} on {short_source(record.source)}) · "
                    "<a href='results'>pictures beside the image</a> (Alt+2)"
                )
                self.problem.hide()
        elif step == 1:  # the pictures, in the results tab (hidden or not)
            # one picture per event (each ~2-4 ms) first: showing the record then draws nothing
            view = self.result_view
            steps = view.drawing_steps(record) if self._will_show(record) else []
            self._one_per_event(steps, lambda: self._show_pictures(record))
            return
        else:
            # The pictures come to the front when the user is looking at this panel (not when
            # a queued run ends while they paint on the image).
            tabs = self.window.central_tabs
            if record.state != "cancelled" and (
                self._dock_in_view() or tabs.current_key() == RESULTS_PAGE
            ):
                if step == 2 and tabs.indexOf(self.tabs) < 0:
                    # The first time, the tab is added on its own event: the tab bar appearing
                    # resizes and repaints the image canvas, the page's first paint follows.
                    tabs.addTab(self.tabs, RESULTS_TITLE)
                    self._finish_step(record, step + 1)
                    return
                if step <= 3 and not self.tabs.isVisible():
                    # A hidden page gets its new size only as it is shown: its plots were laid
                    # out again in the pass that painted them, and painted twice. Drawing one
                    # pixel of it delivers the size now, on an event of its own.
                    self.tabs.grab(QRect(0, 0, 1, 1))
                    self._finish_step(record, 4)
                    return
                self._bring_forward(record)
                return
            self.last_shown = record
            return
        self._finish_step(record, step + 1)

    def _bring_forward(self, record: RunRecord) -> None:
        """Show the results page, its plots painted one per event.

        Shown at once, the page and both plots were painted in one pass of the event loop (the
        image canvas' scene, hidden by the switch, flushes the whole window, and the plots'
        scenes then repaint them again): ~12 ms of the GUI thread with no other event in
        between, the longest stretch of a run's end. With updates off, the plots are left out
        of that pass, and each paints in a pass of its own a millisecond later."""
        view = self.result_view
        later = []
        if not self.tabs.isVisible() and view.pages.currentWidget() is view.class_page:
            later = [view.heatmap.plot, view.bars.plot]
        for plot in later:
            plot.setUpdatesEnabled(False)
        self.show_results()
        # each plot's paint is scheduled as its updates come back on
        steps = [lambda plot=plot: plot.setUpdatesEnabled(True) for plot in later]
        QTimer.singleShot(1, self, lambda: self._one_per_event(steps, lambda: self._shown(record)))

    def _shown(self, record: RunRecord) -> None:
        self.last_shown = record

    def _will_show(self, record: RunRecord) -> bool:
        """Whether the result view is to show ``record`` (selected alone, or already shown)."""
        return self._selects(record) or self.result_view.record is record

    def _selects(self, record: RunRecord) -> bool:
        return record.state != "cancelled" and len(self._selected_rows()) <= 1

    def _show_pictures(self, record: RunRecord) -> None:
        if record in self.model.records:
            if self._selects(record):
                self.select_record(record)
            elif self.result_view.record is record:
                self.result_view.show_record(record)
        self._finish_step(record, 2)

    def _one_per_event(self, steps: list[Callable[[], None]], then: Callable[[], None]) -> None:
        """Run ``steps`` one per pass of the event loop (1 ms apart), then ``then``."""
        if steps:
            steps.pop(0)()
            QTimer.singleShot(1, self, lambda: self._one_per_event(steps, then))
        else:
            then()
