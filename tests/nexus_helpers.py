"""Set-up shared by the NeXus tests: a file with the NXentry/NXdata skeleton the readers look
for, its contents left to the caller."""

from __future__ import annotations


def write_nexus(path, build, **file_options):
    """Write ``path`` with /entry (NXentry, the default) and /entry/data (NXdata, signal "data");
    ``build(file, data_group)`` adds the rest; ``file_options`` go to ``h5py.File`` (such as
    ``userblock_size``). ``path``."""
    import h5py  # imported here: a test module may skip itself when h5py is missing

    with h5py.File(path, "w", **file_options) as f:
        f.attrs["default"] = "entry"
        entry = f.create_group("entry")
        entry.attrs.update({"NX_class": "NXentry", "default": "data"})
        data = entry.create_group("data")
        data.attrs.update({"NX_class": "NXdata", "signal": "data"})
        build(f, data)
    return path
