"""What the window remembers between runs: geometry, dock layout, colour map and percentiles."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QTimer
from PySide6.QtWidgets import QApplication

from qbi_desktop.gui.layout import hide_stale_tab_bars, size_default_layout
from qbi_desktop.gui.settings import read_setting

SMALL_SCREEN_WIDTH = 1500  # narrower screens start with the window filling them
# 2: central tabs and full-height side columns; layouts saved by older versions are not restored
LAYOUT_VERSION = 2


class PersistenceMixin:
    """Saving and restoring the main window's layout and view settings."""

    def _restore_layout(self) -> None:
        self._restore_geometry()
        state = self.settings.value("window/state")
        restored = (
            isinstance(state, QByteArray)
            and not state.isEmpty()
            and self.restoreState(state, LAYOUT_VERSION)
        )
        if not restored:  # first start, or a layout of an older version: the default columns
            self._size_default_on_show = True  # get their shares of the real width once shown
        else:
            QTimer.singleShot(0, lambda: hide_stale_tab_bars(self))
        self._restore_view_settings()

    def _restore_view_settings(self) -> None:
        if getattr(self, "_view_settings_restored", False):
            return  # once: a colour map chosen since then stays
        self._view_settings_restored = True
        cmap = read_setting(self.settings, "view/colormap", "Grey")
        self.levels_panel.set_colormap_name(cmap)
        low = read_setting(self.settings, "view/percentile_low", 0.5, 0.0, 100.0)
        high = read_setting(self.settings, "view/percentile_high", 99.5, 0.0, 100.0)
        self.levels_panel.low_pct.setValue(low)
        self.levels_panel.high_pct.setValue(high)

    def _restore_geometry(self) -> None:
        if self.isVisible():
            return  # shown already (panels built after the first frame): keep where it is
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:  # first start: most of the screen, centred; all of a laptop's screen
            screen = QApplication.primaryScreen()
            if screen is not None:
                area = screen.availableGeometry()
                # Below ~1500 px the docks need every pixel for the canvas to keep half the
                # width, so a small screen gets the whole available area.
                share = 1.0 if area.width() < SMALL_SCREEN_WIDTH else 0.88
                self.resize(int(area.width() * share), int(area.height() * share))
                self.move(area.center() - self.rect().center())
            else:
                self.resize(1400, 900)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        if self.panels_ready:  # closed before the panels were built: keep the saved docks
            self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.setValue("view/colormap", self.levels_panel.cmap.currentText())
        low, high = self.levels_panel.percentiles
        self.settings.setValue("view/percentile_low", low)
        self.settings.setValue("view/percentile_high", high)
        self.settings.sync()

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        size_default_layout(self)
        QTimer.singleShot(0, lambda: hide_stale_tab_bars(self))

    def showEvent(self, event):  # noqa: N802
        super().showEvent(event)
        if getattr(self, "_size_default_on_show", False):
            self._size_default_on_show = False
            QTimer.singleShot(0, lambda: size_default_layout(self))
