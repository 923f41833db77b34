"""What the window remembers between runs: geometry, dock layout, colour map and percentiles."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QByteArray, QDataStream, QRect, Qt, QTimer
from PySide6.QtWidgets import QApplication, QScrollArea

from qbi_desktop.gui.layout import (
    LEFT_MIN,
    LEFT_SHARE,
    RIGHT_MIN,
    RIGHT_SHARE,
    hide_stale_tab_bars,
    raise_docks_in_use,
    size_default_layout,
)
from qbi_desktop.gui.settings import read_setting

SMALL_SCREEN_WIDTH = 1500  # narrower screens start with the window filling them
# 2: central tabs and full-height side columns; layouts saved by older versions are not restored
LAYOUT_VERSION = 2
# A restored layout is used only when every dock in view shows at least this much of its panel
# (or all of a smaller one) and the central area keeps this share of the window: a layout saved
# while panels were half built, or at a larger screen, squashed docks to a title and a scroll bar.
USABLE_DOCK_WIDTH, USABLE_DOCK_HEIGHT = 120, 80
USABLE_CENTRAL_SHARE = 0.25

log = logging.getLogger(__name__)


def layout_problem(window) -> str | None:
    """Why the window's current dock arrangement is unusable, or None when it is usable."""
    central = window.centralWidget()
    if central is not None and central.isVisible():
        width, height = window.width(), window.height()
        # in a window too narrow for that share, what the default columns leave (less the
        # tab strip and separators) is all that can be asked
        left = max(LEFT_MIN, int(width * LEFT_SHARE))
        default = width - left - max(RIGHT_MIN, int(width * RIGHT_SHARE)) - 40
        if central.width() < min(width * USABLE_CENTRAL_SHARE, default):
            return f"the image area is {central.width()} of {width} px wide"
        if central.height() < height * USABLE_CENTRAL_SHARE:
            return f"the image area is {central.height()} of {height} px high"
    for dock in window.docks.values():
        # docks behind another's tab, closed or floating are not squashed by the layout
        if dock.isFloating() or not dock.isVisible() or dock.visibleRegion().isEmpty():
            continue
        area = dock.widget()
        if not isinstance(area, QScrollArea):  # every panel's dock holds one (add_dock)
            continue
        shown = area.viewport().size()
        least = area.widget().minimumSizeHint()
        if shown.width() < min(least.width(), USABLE_DOCK_WIDTH):
            return f"{dock.windowTitle()} is {shown.width()} px wide"
        if shown.height() < min(least.height(), USABLE_DOCK_HEIGHT):
            return f"{dock.windowTitle()} is {shown.height()} px high"
    return None


def _larger_than_screen(geometry: QByteArray, screen) -> bool:
    """Whether a saved window geometry (``QWidget.saveGeometry``) is larger than ``screen``'s
    available area: Qt shrinks such a window to an odd size (a 2400x1350 window came back as
    910x512 on a 1366x768 screen), where the screen's own first-start size serves better."""
    if screen is None:
        return False
    stream = QDataStream(geometry)
    magic = stream.readUInt32()
    major = stream.readUInt16()
    stream.readUInt16()
    frame, normal = QRect(), QRect()
    stream >> frame
    stream >> normal
    if magic != 0x1D9D0CB or major < 1 or stream.status() != QDataStream.Status.Ok:
        return False  # not a geometry Qt wrote: restoreGeometry refuses it anyway
    area = screen.availableGeometry()
    # the frame too: a window whose inside filled the screen had its title bar and bottom
    # rows (the status bar's read-out) beyond the screen's edge under a window manager
    return any(r.width() > area.width() or r.height() > area.height() for r in (frame, normal))


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
            # Checked once the restored sizes are applied: at once when shown, else on show.
            if self.isVisible():
                QTimer.singleShot(0, self._check_restored_layout)
            else:
                self._check_layout_on_show = True
        # Only a layout with every panel in it is worth saving (see save_layout).
        self._layout_whole = not self.failed_panels
        self._restore_view_settings()

    def _check_restored_layout(self) -> None:
        """A saved layout that leaves a dock or the image squashed gives way to the default."""
        problem = layout_problem(self)
        if problem is None:
            return
        message = f"The saved window layout does not fit ({problem}): the default layout is used."
        log.warning(message)
        self.statusBar().showMessage(message, 15000)
        self.reset_layout()

    def _install_panel(self, name: str, build: Callable[[], object]) -> object | None:
        """``build()``, or None when it raised: the panel is left out, the error logged and
        the window's layout not saved on close (it was arranged without that panel)."""
        try:
            return build()
        except Exception:  # a bug in one panel must not take the window (or its layout) down
            log.exception("the %s panel could not be built", name)
            self.failed_panels.append(name)
            return None

    def _tell_failed_panels(self) -> None:
        if self.failed_panels:
            names = ", ".join(self.failed_panels)
            self.statusBar().showMessage(
                f"Panel(s) not built: {names} (see the log). The window layout will not be "
                "saved on close; the last good one is kept.",
                60000,
            )

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
        screen = QApplication.primaryScreen()
        if (
            isinstance(geometry, QByteArray)
            and not geometry.isEmpty()
            and not _larger_than_screen(geometry, screen)
        ):
            self.restoreGeometry(geometry)
        else:  # first start (or a larger screen's window): maximised on every screen
            if screen is not None:
                area = screen.availableGeometry()
                # Shown maximised (the window manager fits its frame in too): the docks and the
                # canvas get the whole screen (at 1600x1000 a centred 88 % window kept the
                # Browser ~280 px wide). Un-maximised it returns to its normal size: the whole
                # area of a small screen (below ~1500 px the docks need every pixel), most of a
                # larger one, centred. Saved on close, that state and size are restored.
                share = 1.0 if area.width() < SMALL_SCREEN_WIDTH else 0.88
                self.resize(int(area.width() * share), int(area.height() * share))
                self.move(area.center() - self.rect().center())
                self._maximise_at_size = self.size()
            else:
                self.resize(1400, 900)

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        # Closed before the panels were built, or with one missing (it failed to build, or
        # building stopped half way): keep the last good layout rather than save a broken one.
        if self.panels_ready and getattr(self, "_layout_whole", False):
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
        raise_docks_in_use(self)  # a project open: the Browser in front, not the Files list
        size_default_layout(self)
        QTimer.singleShot(0, lambda: hide_stale_tab_bars(self))

    def showEvent(self, event):  # noqa: N802
        # A window filling a small screen's inside had its frame's height of bottom rows (the
        # status bar's read-out) below the screen; one sized by the caller keeps that size.
        if self.size() == getattr(self, "_maximise_at_size", None):
            self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)
        self._maximise_at_size = None
        super().showEvent(event)
        self.window_input.watch(self)  # its QWindow exists once shown
        if getattr(self, "_size_default_on_show", False):
            self._size_default_on_show = False
            QTimer.singleShot(0, lambda: size_default_layout(self))
        if getattr(self, "_check_layout_on_show", False):
            self._check_layout_on_show = False
            QTimer.singleShot(0, self._check_restored_layout)
