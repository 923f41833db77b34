"""Help menu: the keyboard shortcuts the app defines (read from its actions), and the user's
guide made of the README (its user sections first, how to install last).

The shortcut list is generated from the window's QActions (menu actions, with the menu they sit
in) and the panels' QShortcuts (with the dock they work in), so it never goes stale. A panel
shortcut is described by its ``whatsThis()`` text, else by a button of its panel whose tooltip
or text names the key, e.g. "Brush (B)".

The README is the package's long description: it ships in every installed copy's metadata
(wheel, .deb, the PyInstaller bundle copies the metadata too), so the help needs no second copy
of it inside the package. A source checkout shows its own, newest README.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHeaderView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

SOURCE_ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "qbi-desktop"


# -- shortcuts -----------------------------------------------------------------------------------
def _plain(text: str) -> str:
    """Menu text without its mnemonic marker: "&Open…" -> "Open…" ("&&" stays "&")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def _keys(sequences) -> str:
    return ", ".join(
        s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences if not s.isEmpty()
    )


def _menu_paths(window) -> dict[QAction, str]:
    """Each action in the menu bar -> "File", "View > Panels", ..."""
    paths: dict[QAction, str] = {}

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            sub = action.menu()
            if sub is not None:
                walk(sub, f"{path} > {_plain(sub.title())}")
            elif not action.isSeparator():
                paths.setdefault(action, path)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), _plain(top.menu().title()))
    return paths


def _dock_title(widget: QWidget | None) -> str | None:
    while widget is not None:
        if isinstance(widget, QDockWidget):
            return widget.windowTitle()
        widget = widget.parentWidget()
    return None


_LEGEND_KEY = r"\d\s*[-–]\s*\d|Enter|Return|Esc|Delete|Del|Backspace|Space|[A-Z]"
_LEGEND_ITEM = re.compile(rf"^(?:Keys?\s+)?(?P<key>{_LEGEND_KEY})\s+(?P<what>[a-z].*)$")
_SAME_KEYS = ({"Enter", "Return"}, {"Del", "Delete"})


def _legend_keys(text: str) -> list[tuple[str, str]]:
    """(key, what) pairs of a tooltip that is a key legend ("A accept, R reject; Enter opens
    the item"); empty unless at least two entries read like one."""
    found = []
    for part in re.split(r"[;,]\s*", re.sub(r"<[^>]+>", "", text)):
        match = _LEGEND_ITEM.match(part.strip())
        if match:
            found.append((re.sub(r"\s", "", match["key"]), match["what"].rstrip(". ")))
    return found if len(found) >= 2 else []


def _legend_matches(legend_key: str, keys: str) -> bool:
    if legend_key == keys or any({legend_key, keys} <= same for same in _SAME_KEYS):
        return True
    span = re.fullmatch(r"(\d)[-–](\d)", legend_key)
    return bool(span and keys.isdigit() and int(span[1]) <= int(keys) <= int(span[2]))


def _describe(shortcut: QShortcut, keys: str) -> str:
    """What a panel shortcut does: its whatsThis, else what the panel's own texts say of it (a
    key legend in a tooltip, a "Labels (1–9)" title, a "Brush (B)" button)."""
    if shortcut.whatsThis():
        return shortcut.whatsThis()
    owner = shortcut.parent()
    if not isinstance(owner, QWidget):
        return "(panel shortcut)"
    scope = owner
    while scope.parentWidget() is not None and not isinstance(scope, QDockWidget):
        scope = scope.parentWidget()
    widgets = [scope, *scope.findChildren(QWidget)]
    for widget in widgets:
        for legend_key, what in _legend_keys(widget.toolTip()):
            if _legend_matches(legend_key, keys):
                return what[0].upper() + what[1:]
    if len(keys) == 1 and keys.isdigit():
        for widget in widgets:
            title = getattr(widget, "title", None)
            for text in (widget.property("text"), title() if callable(title) else None):
                match = isinstance(text, str) and re.search(r"\((\d)\s*[–-]\s*(\d)\)", text)
                if match and int(match[1]) <= int(keys) <= int(match[2]):
                    name = re.sub(r"\s*\(.*", "", text)
                    return f"{name}: choose by number"
    pattern = re.compile(rf"\(\s*{re.escape(keys)}\s*\)|\b{re.escape(keys)}\b\s*:", re.I)
    for button in scope.findChildren(QAbstractButton):
        for text in (button.toolTip(), button.text()):
            if text and pattern.search(text):
                return _plain(re.sub(r"<[^>]+>", "", button.text() or text)).strip()
    return "(panel shortcut)"


def shortcut_rows(window) -> list[tuple[str, str, str]]:
    """(where, what, keys) for every shortcut of ``window``: its actions with the menu they are
    in, then the panels' own shortcuts with their dock; sorted, without duplicates."""
    rows: set[tuple[str, str, str]] = set()
    menus = _menu_paths(window)
    for action in window.findChildren(QAction):
        keys = _keys(action.shortcuts())
        if not keys:
            continue
        where = menus.get(action) or _dock_title(action.parent()) or "Window"
        rows.add((where, _plain(action.text()).strip(), keys))
    for shortcut in window.findChildren(QShortcut):
        keys = _keys([shortcut.key()])
        if not keys or not shortcut.isEnabled():
            continue
        owner = shortcut.parent()
        where = _dock_title(owner) or ("Image canvas" if owner is window.canvas else "Window")
        if where == "Image canvas":
            continue  # the same keys are listed with the panel that binds them to the canvas
        rows.add((f"{where} panel", _describe(shortcut, keys), keys))
    return sorted(_join_digits(rows), key=lambda r: (r[0].endswith(" panel"), r[0], r[1], r[2]))


def _join_digits(rows: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """Digit keys that do the same thing in one place become one row: "1–9"."""
    digits: dict[tuple[str, str], list[int]] = {}
    for where, what, keys in rows:
        if len(keys) == 1 and keys.isdigit():
            digits.setdefault((where, what), []).append(int(keys))
    joined = {r for r in rows if not (len(r[2]) == 1 and r[2].isdigit())}
    for (where, what), found in digits.items():
        found.sort()
        if len(found) > 2 and found == list(range(found[0], found[-1] + 1)):
            joined.add((where, what, f"{found[0]}–{found[-1]}"))
        else:
            joined.update((where, what, str(d)) for d in found)
    # one row per described thing a panel does: "Enter, Return"
    merged: dict[tuple[str, str], list[str]] = {}
    for where, what, keys in sorted(joined):
        if where.endswith(" panel") and what != "(panel shortcut)":
            merged.setdefault((where, what), []).append(keys)
    kept = {r for r in joined if (r[0], r[1]) not in merged}
    return kept | {(where, what, ", ".join(keys)) for (where, what), keys in merged.items()}


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: a searchable table of every shortcut."""

    def __init__(self, window):
        super().__init__(window)
        self.setWindowTitle("Keyboard Shortcuts — QBI Desktop")
        self.rows = shortcut_rows(window)
        self.filter = QLineEdit(placeholderText="Filter (action, key or menu)")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(len(self.rows), 3)
        self.table.setHorizontalHeaderLabels(["Where", "What", "Keys"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        for r, row in enumerate(self.rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.filter.textChanged.connect(self._filter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for r, row in enumerate(self.rows):
            self.table.setRowHidden(r, bool(needle) and not any(needle in t.lower() for t in row))


# -- README ----------------------------------------------------------------------------------------
def readme_text(source_root: Path | None = SOURCE_ROOT) -> str:
    """The README as Markdown: a source checkout's own file, else the installed package's
    long description (its metadata), else a short note where to find it."""
    if source_root is not None:
        path = source_root / "README.md"
        if path.is_file() and (source_root / "qbi_desktop" / "__init__.py").is_file():
            return path.read_text(encoding="utf-8")
    try:
        meta = metadata(DISTRIBUTION)
        body = meta.get_payload() or meta.get("Description") or ""
    except PackageNotFoundError:
        body = ""
    if body.strip():
        return body
    return "# QBI Desktop\n\nThe README is not part of this installation."


def _without_images(markdown: str) -> str:
    """Screenshots are referenced by paths of the source tree; the help shows the text."""
    return re.sub(r"^\s*!\[[^\]]*\]\([^)]*\)\s*$", "", markdown, flags=re.M)


# -- the user's guide --------------------------------------------------------------------------
FIRST_STEPS = """## First steps

The window has the **image canvas** in the middle and panels (docks) around it:

- **Dataset Browser** (left, with **Files**): the items of a project as thumbnails with their
  label, name and suggested class; filters, Montage and Balance tabs.
  **Files** lists the images open in the viewer.
- **Levels / Histogram** (left, with **Info**): window/level on the histogram, colour map,
  percentiles. **Info** shows the image's metadata.
- **Annotate, Spots, Augment, Simulate, Baselines, Radiography** (right, one tab each):
  painting masks and boxes, reviewing proposed spots, the augmentation preview, simulated data,
  baseline models, and radiograph normalisation.
- **Tasks / Log** (under the canvas): every background job with its progress and Cancel.

A first hour:

1. Look around with the demo: File ▸ Open Demo, or `qbi-desktop --demo`.
2. Open your own images: File ▸ Open (Ctrl+O), or drag them onto the window.
3. Make a dataset: Dataset ▸ New Project…, then Dataset ▸ Import… a folder of images
   (one sub-folder per class, or a sheet, COCO, labelme, MNIST IDX, NPZ…).
4. Label in the Browser: type the class names in its Filters ▸ Classes field, then keys 0–9
   give an item the class at that position; Enter accepts a suggested class.
5. Paint masks or draw boxes in the Annotate panel; Ctrl+S saves the mask.
6. Split (Dataset ▸ Split…), run a baseline in the Baselines panel, and export.

Help ▸ Keyboard Shortcuts (Ctrl+/) lists every key; the most used are in the next section.
"""
# README sections shown after the user's sections (how to install), and the ones left out (for
# developers: the code's layout, benchmarks)
GUIDE_LAST = ("Install and run", "Installing the packaged app")
GUIDE_LEFT_OUT = ("Layout of the code", "Benchmarks")


def _sections(markdown: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first "## " heading and the (title, text) of each "## " section."""
    intro, sections = [], []
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            intro.append(line)
    return "".join(intro), [(title, "".join(text)) for title, text in sections]


def shortcut_markdown(window) -> str:
    """The window's shortcuts (as Help ▸ Keyboard Shortcuts lists them) as a Markdown table."""
    rows = shortcut_rows(window)
    if not rows:
        return ""
    lines = ["## Keyboard shortcuts", "", "| where | what | keys |", "|---|---|---|"]
    for where, what, keys in rows:
        cells = (c.replace("|", "\\|") for c in (where, what, keys))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def guide_markdown(readme: str, shortcuts: str = "") -> str:
    """The help's text: the README's introduction, the first steps, the shortcuts, the README's
    user sections; how to install at the end; the developers' sections left out."""
    intro, sections = _sections(_without_images(readme))

    def among(title: str, titles: tuple[str, ...]) -> bool:  # "Install and run (two commands)"
        return title.startswith(titles)

    user = [text for title, text in sections if not among(title, GUIDE_LAST + GUIDE_LEFT_OUT)]
    last = [text for title, text in sections if among(title, GUIDE_LAST)]
    parts = [intro.rstrip() + "\n", FIRST_STEPS]
    if shortcuts:
        parts.append(shortcuts)
    return "\n".join(parts + user + last)


def _wrap_code(document) -> None:
    """Code blocks wrap at the window's edge (they scrolled the whole text sideways)."""
    block = document.begin()
    while block.isValid():
        fmt = block.blockFormat()
        if fmt.nonBreakableLines():
            fmt.setNonBreakableLines(False)
            QTextCursor(block).setBlockFormat(fmt)
        block = block.next()


#: an invisible character that forbids a line break on either side of it (Unicode WJ)
WORD_JOINER = "\u2060"
# where Qt's line breaking may cut inside a token: after a hyphen ("--leave-|out"), a slash
# ("/work/|shared") or a dash; a joiner after each keeps the token on one line
_BREAKS_AFTER = re.compile(r"([-/\\\u2010\u2013])(?=\S)")


def _keep_tokens_whole(document) -> None:
    """No file name, option or key combination is broken over two lines (``--leave-out-
    unlabelled``, ``/work/shared/data/``): a word joiner goes after each character inside a
    token where a line may otherwise break. Breaking anywhere in a word (Qt's default, which
    cut ``Ctrl+S|hift+Z`` in a narrow table cell) is turned off by the browser's wrap mode."""
    block = document.begin()
    while block.isValid():
        text = block.text()
        # from the end, so that the positions found stay valid while joiners go in
        for match in reversed(list(_BREAKS_AFTER.finditer(text))):
            cursor = QTextCursor(document)
            cursor.setPosition(block.position() + match.end(1))
            cursor.insertText(WORD_JOINER)
        block = block.next()


def _without_joiners(text: str) -> str:
    return text.replace(WORD_JOINER, "")


class GuideBrowser(QTextBrowser):
    """The guide's text: lines break between words only, never inside one (a token longer than
    the line makes the text scroll sideways); the joiners that keep tokens whole are not part
    of what is copied or read back."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WordWrap)

    def toPlainText(self) -> str:  # noqa: N802 (Qt's name)
        return _without_joiners(super().toPlainText())

    def createMimeDataFromSelection(self) -> QMimeData:  # noqa: N802 (Qt's name)
        data = QMimeData()
        data.setText(_without_joiners(self.textCursor().selection().toPlainText()))
        return data


class ReadmeDialog(QDialog):
    """Help > QBI Desktop Help: the user's guide (:func:`guide_markdown`) with its contents
    beside it; a click on a title goes to that section."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("QBI Desktop Help")
        self.browser = GuideBrowser()
        self.browser.setOpenExternalLinks(True)
        shortcuts = ""
        if parent is not None and hasattr(parent, "menuBar") and hasattr(parent, "canvas"):
            shortcuts = shortcut_markdown(parent)
        self.browser.setMarkdown(guide_markdown(readme_text(), shortcuts))
        _wrap_code(self.browser.document())
        _keep_tokens_whole(self.browser.document())
        self.contents = QListWidget()
        self.contents.setToolTip("Contents: click a title to go to its section")
        self._headings: list[int] = []  # block numbers of the sections' titles
        block = self.browser.document().begin()
        while block.isValid():
            level = block.blockFormat().headingLevel()
            if level in (1, 2) and block.text().strip():
                item = QListWidgetItem(block.text().strip())
                if level == 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.contents.addItem(item)
                self._headings.append(block.blockNumber())
            block = block.next()
        self.contents.currentRowChanged.connect(self.go_to_section)
        self.contents.setMaximumWidth(260)
        self.contents.setWordWrap(True)  # long titles on two lines, not scrolled sideways
        self.contents.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.contents)
        splitter.addWidget(self.browser)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([210, 700])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)
        self.resize(920, 680)
        self.setWindowFlag(Qt.WindowType.WindowMaximizeButtonHint, True)

    def section_titles(self) -> list[str]:
        return [self.contents.item(i).text() for i in range(self.contents.count())]

    def go_to_section(self, row: int) -> None:
        """Scroll the text so that section ``row``'s title is at the top."""
        if not 0 <= row < len(self._headings):
            return
        document = self.browser.document()
        block = document.findBlockByNumber(self._headings[row])
        top = document.documentLayout().blockBoundingRect(block).top()
        self.browser.verticalScrollBar().setValue(int(top))
