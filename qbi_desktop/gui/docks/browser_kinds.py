"""The kinds of the Dataset menu's Import and Export dialogs: what each list entry says, what
it picks, and the name the GUI's messages give each kind (reports, errors, task titles): how
its entry in the dialog's Kind list begins. The command line keeps its own names
(``imagefolder``, ``datapackage``); core's messages name kinds and options through
:class:`qbi_desktop.core.formats.named.Named`, which the GUI gives these words."""

from __future__ import annotations

from qbi_desktop.core.archives import ARCHIVE_SUFFIXES

#: kind -> (menu text, what to pick, needs an images folder option)
IMPORT_KINDS: dict[str, tuple[str, str, bool]] = {
    "imagefolder": ("Folder of images, or one folder per class (ImageFolder)", "folder", False),
    "mnist": ("MNIST IDX files (gz or plain)", "files", False),
    "npz": ("Keras-style NPZ", "files", False),
    "sheet": ("Regression sheet (CSV / XLSX)", "files", True),
    "masks": ("Folder of masks matched by name", "folder", True),
    "coco": ("COCO JSON (boxes, polygons)", "files", True),
    "labelme": ("labelme JSON", "files", False),
    "yolo": ("YOLO dataset folder (labels/*.txt, data.yaml or obj.names)", "folder", False),
    "datapackage": ("Data Package export (datapackage.json + items.csv)", "folder", False),
    "series": ("Numbered series, one item per frame (a folder or one frame)", "files", False),
    "nexus": ("NeXus/HDF5 stack, one item per frame", "files", False),
}
#: kind -> (what its files are, their name patterns) for the file dialog; archives of any kind
#: (extracted into the project first) are offered with them.
IMPORT_FILES: dict[str, tuple[str, str]] = {
    "imagefolder": ("Archives of a class-folder tree", ""),
    "masks": ("Archives of a masks folder", ""),
    "mnist": ("IDX files", "*-ubyte *-ubyte.gz"),
    "npz": ("NPZ arrays", "*.npz"),
    "sheet": ("Sheets", "*.csv *.xlsx *.xlsm"),
    "coco": ("COCO JSON", "*.json"),
    "labelme": ("labelme JSON", "*.json"),
    "yolo": ("Archives of a YOLO dataset", ""),
    "datapackage": ("Data Package descriptors", "datapackage.json"),
    "series": ("A frame of the series", "*.tif *.tiff *.png"),
    "nexus": ("NeXus/HDF5 files", "*.nxs *.h5 *.hdf5 *.hdf *.nx5"),
}
ARCHIVE_PATTERNS = " ".join(f"*{s}" for s in ARCHIVE_SUFFIXES)
EXPORT_KINDS: dict[str, str] = {
    "imagefolder": "Folder per class, split subfolders",
    "datapackage": "Data Package (images, masks, items.csv, datapackage.json)",
    "sheet": "Regression sheet (CSV)",
    "masks": "Images + masks folders",
    "coco": "COCO JSON",
    "labelme": "labelme JSON",
    "mnist": "MNIST IDX",
    "npz": "Keras-style NPZ",
}
#: The name of each kind in the GUI's messages (import and export reports, errors, task
#: titles): how its entry in the dialog's Kind list begins. The command line keeps its own
#: (``imagefolder``, ``datapackage``); core messages name kinds through formats.named.Named.
IMPORT_NAMES: dict[str, str] = {
    "imagefolder": "Folder of images",
    "mnist": "MNIST IDX files",
    "npz": "Keras-style NPZ",
    "sheet": "Regression sheet",
    "masks": "Folder of masks",
    "coco": "COCO JSON",
    "labelme": "labelme JSON",
    "yolo": "YOLO dataset folder",
    "datapackage": "Data Package",
    "series": "Numbered series",
    "nexus": "NeXus/HDF5 stack",
}
EXPORT_NAMES: dict[str, str] = {
    "imagefolder": "Folder per class",
    "datapackage": "Data Package",
    "sheet": "Regression sheet",
    "masks": "Images + masks folders",
    "coco": "COCO JSON",
    "labelme": "labelme JSON",
    "mnist": "MNIST IDX",
    "npz": "Keras-style NPZ",
}
#: The command-line options core messages name, as the export dialog offers them.
EXPORT_OPTIONS: dict[str, str] = {
    "--leave-out-rejected": "the export dialog's check box 'Leave out the … rejected item(s)'",
    "--leave-out-unlabelled": (
        "the export dialog's check box 'Leave out the … item(s) without a class'"
    ),
    "--leave-out-unannotated": (
        "the export dialog's check box 'Leave out the … item(s) with no boxes and no mask'"
    ),
    "--split": (
        "the Browser's split filter with the export dialog's check box 'Only the … item(s) "
        "the browser shows'"
    ),
}
#: The export kinds whose annotations are boxes or masks, and what an item needs to count as
#: annotated (core.formats.selection.ANNOTATION_KINDS): the export dialog offers to leave
#: out the items without it for these kinds only.
UNANNOTATED_TEXT = {
    "coco": "with no boxes and no mask",
    "labelme": "with no boxes and no mask",
    "masks": "with no mask",
}
#: The import dialog's check boxes for the command line's import options, as it shows them.
UPDATE_ORIGINALS_TEXT = "Update the items these files are copies of (same pixels), not add them"
EDITED_TABLE_TEXT = "Accept an items.csv edited since the export"
#: The command-line import options core messages name, as the import dialog offers them.
IMPORT_OPTIONS: dict[str, str] = {
    "--update-originals": f"the import dialog's check box '{UPDATE_ORIGINALS_TEXT}'",
    "--edited-table": f"the import dialog's check box '{EDITED_TABLE_TEXT}'",
}
#: What the GUI's import and export messages name kinds and options by.
IMPORT_WORDS = {**IMPORT_NAMES, **EXPORT_OPTIONS, **IMPORT_OPTIONS}
EXPORT_WORDS = {**EXPORT_NAMES, **EXPORT_OPTIONS}
