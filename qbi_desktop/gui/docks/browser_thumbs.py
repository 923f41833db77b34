"""How the Browser's table draws a thumbnail: as its pixels, in a selected row too.

Qt's styles draw the icon of a selected row in their "selected" mode, tinted with the highlight
colour. For an image that is data, not decoration, that misleads: after importing the
``edge20mm_*`` series the first row (selected) looked lit and the other frames black, though
all four thumbnails were alike (each frame is mostly a 20 mm absorbing plate, near-black at
the viewer's own 0.5-99.5 % levels). The row's highlight still shows the selection around it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QStyledItemDelegate


class ThumbnailDelegate(QStyledItemDelegate):
    """The thumbnail column's delegate: a selected row's thumbnail is drawn untinted."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        super().initStyleOption(option, index)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # not generated (tinted) by the style
            option.icon = icon
