"""What the usual reader of an export makes of the images we copy, said in the export report.

Exports copy item files byte for byte (values with physical meaning are never rescaled), but
the tools that read folder layouts (torchvision's ``ImageFolder``, Keras'
``image_dataset_from_directory``, most segmentation loaders) open images with PIL and convert
them to 8-bit RGB: a 16-bit radiograph reads as all 255, a float32 image is clipped. And a
multi-page TIFF is one item that the project shows as its first page, while PIL opens the
first page and ``tifffile.imread`` the whole stack. :class:`ImageKinds` collects, for the
images an export writes, which are not 8-bit and which are stacks, and gives the notes.

What each export writes for a stack item: a format that takes a file whatever its pages
(ImageFolder, the Data Package's ``data/``) gets the whole stack, as it was imported (the class
belongs to the whole file; our imports read the file back as the same item); a 2-D format
whose annotations describe one image (masks ``images/``; COCO and labelme) gets the page the
annotations belong to, the first (:func:`~qbi_desktop.core.formats.item_pages.put_page`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from qbi_desktop.core.catalog.images import TIFF_SUFFIXES

#: The loaders that keep the values, as the notes name them.
KEEPING_LOADERS = (
    "tifffile.imread(path) for TIFF files (torchvision: ImageFolder(root, "
    "loader=tifffile.imread)), numpy.asarray(PIL.Image.open(path)) for 16-bit PNGs"
)
_PIL_MODES = {"I;16": "uint16", "I;16B": "uint16", "I;16L": "uint16", "I": "int32", "F": "float32"}


def tiff_pages(path: Path) -> int:
    """How many pages (IFDs) the TIFF file ``path`` holds; 1 when it cannot be told."""
    from qbi_desktop.core.formats.item_pages import tiff_pages as pages

    return max(1, pages(path))


def image_kind(project: Any, db: Any, row: dict[str, Any]) -> tuple[str, int]:
    """(pixel type name, pages) of an export row's image, from its file's header (or, for an
    item of a container, its pixels); ("unknown", 1) when the file cannot be opened."""
    if row["path"] is None:
        from qbi_desktop.core.formats.common import item_pixels

        try:
            return item_pixels(project, db, row).dtype.name, 1
        except Exception:
            return "unknown", 1
    path = project.resolve(row["path"])
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                return str(getattr(page, "dtype", None) or "unknown"), len(tif.pages)
        from PIL import Image

        with Image.open(path) as img:
            return _PIL_MODES.get(img.mode, "uint8"), int(getattr(img, "n_frames", 1) or 1)
    except Exception:  # a missing or broken file: the export's own check names it
        return "unknown", 1


class ImageKinds:
    """The images an export wrote that a PIL-based reader gets wrong: not 8-bit, or stacks."""

    def __init__(self, project: Any, db: Any) -> None:
        self.project, self.db = project, db
        self.wide: list[tuple[str, str]] = []  # (path written, pixel type)
        self.stacks: list[tuple[str, int]] = []  # (path written, pages)

    def see(self, row: dict[str, Any], written: str) -> None:
        dtype, pages = image_kind(self.project, self.db, row)
        if dtype not in ("uint8", "bool", "unknown"):
            self.wide.append((written, dtype))
        if pages > 1:
            self.stacks.append((written, pages))

    def notes(self, reader: str, stacks: str, first_page: bool = False) -> list[str]:
        """``reader``: the tools, e.g. "torchvision's ImageFolder"; ``stacks``: what the export
        did with a stack item (:data:`STACK_COPIED`, or with ``first_page``
        :data:`STACK_PAGE`)."""
        notes = []
        if self.wide:
            counts = Counter(dtype for _, dtype in self.wide)
            kinds = ", ".join(f"{dtype}: {n}" for dtype, n in sorted(counts.items()))
            shown = ", ".join(rel for rel, _ in self.wide[:3])
            more = f" and {len(self.wide) - 3} more" if len(self.wide) > 3 else ""
            notes.append(
                f"{len(self.wide)} image(s) are 16-bit or floating point ({kinds}; {shown}"
                f"{more}), copied with their values unchanged: {reader} open images with "
                "PIL and convert them to 8-bit RGB, which saturates or clips them (a 16-bit "
                f"radiograph reads as all 255); read them with a loader that keeps the values: "
                f"{KEEPING_LOADERS}"
            )
        if self.stacks:
            shown = ", ".join(
                f"{rel} (page 1 of {pages})" if first_page else f"{rel} ({pages} pages)"
                for rel, pages in self.stacks[:3]
            )
            more = f" and {len(self.stacks) - 3} more" if len(self.stacks) > 3 else ""
            notes.append(
                f"{len(self.stacks)} item(s) are multi-page TIFFs (stacks): {shown}{more}; {stacks}"
            )
        return notes


#: What the folder exports (ImageFolder, Data Package data/) say they did with a stack.
STACK_COPIED = (
    "copied whole, as imported (the class belongs to the whole file); PIL (torchvision's "
    "default loader) opens only the first page, tifffile.imread the whole stack (pages x "
    "height x width); the project shows the first page as the item's image, and the item's "
    "mask and boxes belong to that page"
)
#: What a 2-D export (masks images/) says it did with a stack.
STACK_PAGE = (
    "each written as its first page, a 2-D TIFF of its own: the image the item's mask "
    "belongs to (the project shows that page as the item's image)"
)
