"""Spots dock: automatic spot proposals drawn live on the canvas, and a queue to review them.

The detector (:func:`qbi_desktop.core.spots.detect_spots_job`) runs in a worker whenever a
parameter changes (debounced), and the candidates are outlined on the canvas: yellow proposed,
green accepted, red rejected, blue edited by hand, the current one in cyan. The queue lists them
by decreasing score with a zoomed thumbnail whose contrast comes from the raw 16-bit values of
its own neighbourhood, so faint and saturated spots both show.

Keys: A accept (its pixels are added to the mask with the active label: one undo step),
R reject, E edit (the canvas jumps there zoomed in, with the brush), N / P next / previous.
They work in this dock, and on the image too while a review is under way and this dock is
shown: a reviewer clicks the image to look at a spot and goes on pressing A or R, so there the
review keys take the place of the Annotate panel's A (previous item) and E (eraser), which come
back when the Annotate panel is shown instead (the dock says so under its buttons). Ctrl+Z
takes back the last decision, whatever it was, and Ctrl+Shift+Z / Ctrl+Y redo it, in order with
the strokes painted meanwhile (:class:`~qbi_desktop.core.spot_review.ReviewHistory`).
Decisions and provenance live in :class:`~qbi_desktop.core.spot_review.SpotReview`, saved
each time the mask is saved (beside a mask file as ``<mask>.spots.json``, a project item's in
the project folder) and read back when the image is opened again (spots_review.py).
The queue and the outlines are drawn by spots_queue.py, the review keys placed by spots_keys.py.

Hot pixels (:mod:`qbi_desktop.core.spots.hot_pixels`): a camera's hot pixels look exactly like
one-pixel gamma spots in one frame and can flood the queue (7 500 proposals for 750 gamma spots
on the real radiographs). By default ("Find beside the image") the detection first looks for
other frames of the image's numbered series, else a dark-current frame, in its folder and
subtracts their hot pixels. "Hot pixels…" takes a dark frame or other frames explicitly (they
are remembered in the settings, ``spots/``). When most proposals still are lone bright pixels
the dock says so and offers what it found beside the image, a file dialog, or skipping lone
pixels. Stepping through the queue centres the canvas on the current spot, zoomed in.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsPathItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.spot_review import ReviewHistory, SpotReview
from qbi_desktop.core.spots import DEFAULTS
from qbi_desktop.gui.docks.spots_hot import (  # noqa: F401 - names the tests and users import
    AUTO_HOT_KEY,
    HOT_FRAMES_KEY,
    HotPixelsMixin,
    detection_job,
    hot_pixel_job,
)
from qbi_desktop.gui.docks.spots_keys import SpotKeysMixin
from qbi_desktop.gui.docks.spots_queue import (  # noqa: F401 - names the tests and users import
    DETECTION_FAILED,
    FOLLOW_ZOOM,
    NO_IMAGE,
    NOT_DETECTED,
    STATE_COLOURS,
    THUMB,
    SpotQueueMixin,
    thumbnail,
)
from qbi_desktop.gui.docks.spots_review import SpotReviewMixin

DEBOUNCE_MS = 300


class SpotsPanel(HotPixelsMixin, SpotReviewMixin, SpotQueueMixin, SpotKeysMixin, QWidget):
    """The dock's panel: detector settings, detection on a worker, and the review (its
    decisions in spots_review.py, its queue and outlines in spots_queue.py, its keys in
    spots_keys.py, hot pixels in spots_hot.py)."""

    detection_done = Signal(int)  # number of candidates

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.canvas = window.canvas
        self.reviews: dict[int, SpotReview] = {}  # by id(MaskSession)
        self.histories: dict[int, ReviewHistory] = {}  # by id(SpotReview): undo of decisions
        self.review: SpotReview | None = None
        # the plane whose detection failed: its summary says so, also after its annotation
        # session arrives (which refreshes the summary, and said "Not detected yet")
        self.failed_plane = None
        self.order: list[int] = []
        self.current: int | None = None
        self.task = None
        self._image = None
        self._init_hot_pixels()
        self.detection = None  # the last SpotDetection shown
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self.detect)
        self._build()
        self._reconcile_timer = QTimer(self)
        self._reconcile_timer.setSingleShot(True)
        self._reconcile_timer.setInterval(200)
        self._reconcile_timer.timeout.connect(self._reconcile)
        self.paths = {}
        for state, colour in STATE_COLOURS.items():
            item = QGraphicsPathItem()
            pen = QPen(colour, 1.2)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(30)
            self.canvas.view.addItem(item, ignoreBounds=True)
            self.paths[state] = item
        self.highlight = QGraphicsPathItem()
        pen = QPen(QColor(0, 255, 255), 2.5)
        pen.setCosmetic(True)
        self.highlight.setPen(pen)
        self.highlight.setZValue(31)
        self.canvas.view.addItem(self.highlight, ignoreBounds=True)
        self._restore_hot_pixels()

    # -- construction ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.method = QComboBox()
        self.method.addItems(["median", "morph"])
        d = DEFAULTS["median"]
        self.k = QDoubleSpinBox(minimum=0.5, maximum=100, decimals=1, singleStep=0.5, value=d["k"])
        self.k_low = QDoubleSpinBox(minimum=0.5, maximum=100, decimals=1, singleStep=0.5)
        self.k_low.setValue(d["k_low"])
        self.size = QSpinBox(minimum=3, maximum=99, singleStep=2, value=d["size"])
        self.min_area = QSpinBox(minimum=1, maximum=100000, value=d["min_area"])
        self.max_area = QSpinBox(minimum=1, maximum=100000, value=d["max_area"])
        self.quantile = QDoubleSpinBox(minimum=0.5, maximum=0.99999, decimals=4, singleStep=0.001)
        self.quantile.setValue(DEFAULTS["morph"]["quantile"])
        self.live = QCheckBox("Live")
        self.live.setChecked(True)
        self.live.setToolTip("Detect again whenever a parameter changes")
        self.show_boxes = QCheckBox("Show on image")
        self.show_boxes.setChecked(True)
        self.show_boxes.toggled.connect(self._boxes_visible)
        self.detect_button = QPushButton("Detect")
        self.detect_button.clicked.connect(self.detect)
        for w in (self.k, self.k_low, self.quantile):
            w.valueChanged.connect(self._params_changed)
        for w in (self.size, self.min_area, self.max_area):
            w.valueChanged.connect(self._params_changed)
        self.method.currentIndexChanged.connect(self._method_changed)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("k (σ)", self.k)
        form.addRow("k low (σ)", self.k_low)
        form.addRow("Median size", self.size)
        form.addRow("Quantile", self.quantile)
        areas = QHBoxLayout()
        areas.addWidget(self.min_area)
        areas.addWidget(QLabel("to"))
        areas.addWidget(self.max_area)
        form.addRow("Area (px)", areas)
        row = QHBoxLayout()
        row.addWidget(self.live)
        row.addWidget(self.show_boxes)
        row.addWidget(self.detect_button)
        form.addRow(row)
        self._build_hot_pixels(form)

        self.queue = QListWidget()
        self.queue.setIconSize(QSize(THUMB, THUMB))
        self.queue.setUniformItemSizes(True)
        self.queue.currentRowChanged.connect(self._row_changed)
        self.queue.itemDoubleClicked.connect(lambda _i: self.edit())
        buttons = QGridLayout()
        self.buttons = {}
        for i, (key, text, slot) in enumerate(
            (
                ("A", "Accept (A)", self.accept),
                ("R", "Reject (R)", self.reject),
                ("E", "Edit (E)", self.edit),
                ("P", "Previous (P)", lambda: self.step(-1)),
                ("N", "Next (N)", lambda: self.step(1)),
            )
        ):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 3, i % 3)
            self.buttons[key] = b
        self.accept_score = QDoubleSpinBox(minimum=0, maximum=1e6, decimals=1, value=20.0)
        self.accept_all_button = QPushButton("Accept all above score")
        self.accept_all_button.clicked.connect(self.accept_all_above)
        above = QHBoxLayout()
        above.addWidget(self.accept_score)
        above.addWidget(self.accept_all_button, 1)
        self.keys_label = QLabel()
        self.keys_label.setWordWrap(True)
        self.summary = QLabel(NO_IMAGE)
        self.summary.setWordWrap(True)
        self.follow = QCheckBox("Zoom to the current spot")
        self.follow.setChecked(True)
        self.follow.setToolTip("Stepping through the queue centres the image on each spot")

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(form)
        col.addWidget(self.summary)
        col.addWidget(self.hint)
        col.addWidget(self.follow)
        col.addWidget(self.queue, 1)
        col.addLayout(buttons)
        col.addWidget(self.keys_label)
        col.addLayout(above)
        self.queue.setMinimumHeight(3 * (THUMB + 4))
        # a scroll area: the dock may be made small (or share the side with many others)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumSize(120, 80)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._method_changed()

        self._install_review_keys()

    def _boxes_visible(self, on: bool) -> None:
        for item in (*self.paths.values(), self.highlight):
            item.setVisible(on)

    def _method_changed(self, *_a) -> None:
        median = self.method.currentText() == "median"
        for w in (self.k_low, self.size):
            w.setEnabled(median)
        self.quantile.setEnabled(not median)
        self._params_changed()

    def params(self) -> dict:
        p = {
            "k": self.k.value(),
            "min_area": self.min_area.value(),
            "max_area": max(self.min_area.value(), self.max_area.value()),
        }
        if self.method.currentText() == "median":
            p["k_low"] = self.k_low.value()
            p["size"] = self.size.value() | 1
        else:
            p["quantile"] = self.quantile.value()
        if self.skip_lone.isChecked():
            p["lone"] = "drop"
        return p

    # -- annotate link ---------------------------------------------------------------------------
    @property
    def annotate(self):
        return getattr(self.window, "annotate_panel", None)

    def _session(self):
        a = self.annotate
        return None if a is None else a.session

    def _session_changed(self, session) -> None:
        self.review = None if session is None else self._review_of(session)
        self.current = None
        self._image = None if self.review is None else session.native_image()
        self.detection = None
        self.hint.setVisible(False)
        self._update_hot_label()
        # no detection on its own when an image opens (the user asks with Detect; after that,
        # "Live" re-detects as parameters change)
        self._refresh()

    # -- detection -------------------------------------------------------------------------------
    def _params_changed(self, *_a) -> None:
        if self.live.isChecked() and self.review is not None:
            self._timer.start()

    def detect(self):
        """Run the detector on the current plane in a worker (cancels a run in progress)."""
        self._timer.stop()
        session = self._session()
        if session is None:
            if self.canvas.plane is None:
                return None
            image = np.asarray(self.canvas.plane.array)
            if not image.dtype.isnative:
                image = image.astype(image.dtype.newbyteorder("="))
        else:
            image = session.native_image()
        if image.ndim != 2:
            self.summary.setText("Spot detection needs a greyscale image")
            return None
        if self.task is not None and not self.task.finished:
            self.task.cancel()
        method, params = self.method.currentText(), self.params()
        exclude = self._exclude_for(image)
        path = self._current_path()
        # hot pixels found beside the image: looked for once per image, then reused
        auto_path = None
        if exclude is None and self.hot is None and self.auto_hot.isChecked() and path:
            cached = self.auto.get(path)
            if cached is None:
                auto_path = path
            elif cached.hot is not None and cached.hot.shape == image.shape:
                exclude = cached.hot
        self.summary.setText("Detecting…")

        def done(result, session=session, image=image, exclude=exclude, path=path) -> None:
            detection, auto = result
            self.failed_plane = None
            if auto is not None and path is not None:
                self.auto[path] = auto
            if self._session() is not session:
                return
            # provenance for the review: which frames the removed hot pixels came from
            recorded = dict(params)
            if exclude is not None and self.hot is not None:
                recorded["hot_pixel_frames"] = list(self.hot_paths)
            elif self.auto.get(path) is not None and self.auto[path].hot is not None:
                recorded["hot_pixel_frames"] = [str(p) for p in self.auto[path].paths]
            if detection.hot_pixels:
                recorded["hot_pixels_excluded"] = detection.hot_pixels
            self.detection = detection
            self._image = image
            shape = image.shape[:2]
            key = id(session) if session is not None else 0
            review = self.reviews.get(key)
            if review is None:
                review = SpotReview.from_candidates(shape, detection.candidates, method, recorded)
                self.reviews[key] = review
            else:
                review.merge(detection.candidates, method, recorded)
                history = self.histories.get(id(review))
                if history is not None:  # undone decisions' proposals may be gone
                    history.forget_redo()
            self.review = review
            self.current = None
            self._refresh()
            self._update_hot_label()
            self._update_hint()
            self.detection_done.emit(len(detection.candidates))

        def failed(message: str, plane=self.canvas.plane) -> None:
            self.failed_plane = plane
            self.summary.setText(DETECTION_FAILED)
            self.window.report_error(message)

        self.task = self.window.tasks.submit(
            "Detect spots",
            lambda: detection_job(image, method, params, exclude, auto_path, path),
            on_result=done,
            on_error=failed,
        )
        return self.task

    # -- mask changes and saving -----------------------------------------------------------------
    def _mask_changed(self, _rect) -> None:
        if self.review is not None:
            self._reconcile_timer.start()

    def _reconcile(self) -> None:
        session = self._session()
        if self.review is None or session is None:
            return
        changed = self.review.reconcile(session.editor.mask)
        for sid in changed:
            self._update_item(sid)
        if changed:
            self._draw()
            self._update_summary()


def install(window) -> SpotsPanel:
    panel = SpotsPanel(window)
    dock = window.add_dock("spots", "Spots", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    dock.visibilityChanged.connect(panel._dock_visibility)
    if "annotate" in window.docks:  # one place on the right for the two annotation docks
        window.tabifyDockWidget(window.docks["annotate"], dock)
        window.docks["annotate"].raise_()
    annotate = getattr(window, "annotate_panel", None)
    if annotate is not None:
        annotate.session_changed.connect(panel._session_changed)
        annotate.mask_changed.connect(panel._mask_changed)
        annotate.save_hooks.append(panel._mask_saved)
        annotate.undo_hooks.append(panel)  # Ctrl+Z on the canvas: the last decision if last
    return panel
