"""The Browser's item table: a QTableView that scrolls sideways only to reach a cell it cannot
show at all.

In a narrow dock (~280 px on a laptop) the thumbnail, label and suggestion fill the view and the
current cell's column (ID, Name) often sticks out a little on the right. Qt scrolls the view to
show the whole cell at every row change, and scrolls by whole columns: the thumbnail - the thing
being labelled - slid out of view at the first key press. A cell whose left edge is in view is
shown as it is; one out of view (the Targets column reached with F2) is still scrolled to.

The Label column shows an unlabelled item's suggested class (in the suggestion's colour, in
italics; :class:`LabelDelegate`): an item has a label or a suggestion, never both, so the two
share a column in a narrow dock and the Name stays in view beside them.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QTableView

from qbi_desktop.gui.docks.browser_model import COL_ID, COL_LABEL, COL_NAME, COL_SUGGESTED

#: the Label column's width: "calibration", "reference" and a suggestion's class read whole
LABEL_WIDTH = 96


class LabelDelegate(QStyledItemDelegate):
    """The Label column: the label, or (for an unlabelled item) the Suggested column's class
    and confidence, in that column's colour and in italics: a guess, not a label."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        if option.text or not index.isValid():
            return
        suggested = index.siblingAtColumn(COL_SUGGESTED)
        text = suggested.data(Qt.ItemDataRole.DisplayRole)
        if not text:
            return
        option.text = str(text)
        option.features |= option.ViewItemFeature.HasDisplay
        option.font.setItalic(True)
        brush = suggested.data(Qt.ItemDataRole.ForegroundRole)
        if isinstance(brush, QBrush) and not option.state & QStyle.StateFlag.State_Selected:
            option.palette.setBrush(QPalette.ColorRole.Text, brush)


class ItemTable(QTableView):
    #: the Name column's least width when it is fitted to a narrow dock (fit_name_column): about
    #: ten characters, elided in the middle ("specim…001.tif"; the detail line has it whole)
    NAME_MIN = 64

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # names of a series differ at their end ("edge20mm_0003.tif"): cut in the middle, the
        # end stays readable (cut at the viewport's edge, five rows read "edge20mm_000")
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        grow, self._grow_once = self._grow_once, False
        self.fit_name_column(grow)

    #: the width the names need (browser_columns.py measures it; None: the user sized it)
    name_wanted: int | None = None
    _grow_once = False  # the next resize may widen the Name column (allow_name_growth)

    def allow_name_growth(self) -> None:
        """The app widens the dock (a project opened): the Name column may grow with it, up to
        the width its names need, at the next resize. A user's own widening leaves it as it is:
        the columns after it come into view."""
        self._grow_once = True

    def fit_name_column(self, grow: bool = False) -> None:
        """In a dock too narrow for the Name column, narrow it to end at the viewport's edge
        (never below NAME_MIN), so that its text is elided where it can be read; in a wide
        dock it keeps the width it has, or (``grow``) takes the width its names need."""
        header = self.horizontalHeader()
        if header.isSectionHidden(COL_NAME):
            return
        start = header.sectionViewportPosition(COL_NAME) + self.horizontalScrollBar().value()
        if start < 0:
            return
        room = max(self.NAME_MIN, self.viewport().width() - start)
        size = header.sectionSize(COL_NAME)
        if grow and self.name_wanted is not None and size != min(room, self.name_wanted):
            header.resizeSection(COL_NAME, min(room, self.name_wanted))
        elif size > room:
            header.resizeSection(COL_NAME, room)

    def moveCursor(self, action, modifiers):  # noqa: N802 (Qt API)
        # A row is an item: Home and End go to the first and last item, in the same column, as
        # in a file list (a table's own Home/End go along the row; with Ctrl, to a corner)
        ends = (QAbstractItemView.CursorAction.MoveHome, QAbstractItemView.CursorAction.MoveEnd)
        model = self.model()
        if action in ends and model is not None and model.rowCount() > 0:
            row = 0 if action == ends[0] else model.rowCount() - 1
            column = self.currentIndex().column()
            if column < 0:
                column = self.horizontalHeader().logicalIndex(0)
            return model.index(row, column)
        return super().moveCursor(action, modifiers)

    def scrollTo(  # noqa: N802 (Qt API)
        self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible
    ) -> None:
        bar = self.horizontalScrollBar()
        keep = bar.value()
        left = self.columnViewportPosition(index.column()) if index.isValid() else -1
        super().scrollTo(index, hint)
        # its left edge was in view, or it is the ID (the row's current cell when a project
        # opens or an item is chosen, last in the row): only the rows move
        if 0 <= left < self.viewport().width() or (index.isValid() and index.column() == COL_ID):
            bar.setValue(keep)

    def closeEditor(self, editor, hint) -> None:  # noqa: N802 (Qt API)
        super().closeEditor(editor, hint)
        # A target typed (Enter moves on to the next item, Escape ends): once the move is done,
        # the row shows from its thumbnail again if the edited column fits beside it, and
        # always once the typing is over.
        QTimer.singleShot(0, self._back_to_thumbnail)

    def _back_to_thumbnail(self) -> None:
        index = self.currentIndex()
        bar = self.horizontalScrollBar()
        if not index.isValid() or bar.value() == 0:
            return
        if self.state() != QAbstractItemView.State.EditingState:
            # Typing is over (Escape, or Enter on the last item): the thumbnail and the label
            # come back, and the current cell with them (a far one would be scrolled to again
            # at the next row change).
            label = self.model().index(index.row(), COL_LABEL)
            self.selectionModel().setCurrentIndex(label, QItemSelectionModel.SelectionFlag.NoUpdate)
            bar.setValue(0)
            return
        keep = bar.value()
        bar.setValue(0)
        right = self.columnViewportPosition(index.column()) + self.columnWidth(index.column())
        if right > self.viewport().width():
            bar.setValue(keep)  # the cell does not fit beside the thumbnail: it stays in view
