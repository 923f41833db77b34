"""NeXus / HDF5 files (h5py): list the image datasets, find the default one, read it lazily.

An image dataset is a numeric dataset of 2 or more dimensions whose last two are at least
2 x 2 (a stack of frames is (n, y, x), or (a, b, y, x) flattened to a x b slices). The default
follows the NeXus rules: the file's ``default`` attribute names an NXentry, the entry's
``default`` names an NXdata group, whose ``signal`` names the dataset; without them the first
NXdata group with a signal, else the largest image dataset. Slices are read one at a time
(``dataset[i]``), never the whole file; one slice's size is checked against the memory limit
before it is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qbi_desktop.core.errors import ImageReadError
from qbi_desktop.core.io import ImageSource, Plane, _check_dtype, _check_file
from qbi_desktop.core.limits import check_image_size

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
NEXUS_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx5", ".nexus")


@dataclass(frozen=True)
class ImageDataset:
    """One image dataset of a file: its HDF5 path, shape and pixel type."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def slices(self) -> int:
        return int(np.prod(self.shape[:-2], dtype=np.int64)) if len(self.shape) > 2 else 1

    def describe(self) -> str:
        return f"{self.name}  ({' x '.join(map(str, self.shape))} {self.dtype})"


def is_hdf5(path: str | Path) -> bool:
    """Does the file start with the HDF5 signature (at offset 0, as h5py writes it)?"""
    try:
        with open(path, "rb") as stream:
            return stream.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


def _open(path: Path):
    try:
        import h5py
    except ImportError:  # the packaged installer leaves h5py out (its size budget)
        raise ImageReadError(
            path,
            "HDF5/NeXus files need the h5py package, which this installation does not include "
            "(install QBI Desktop with pip to open them, or convert the scan to TIFF)",
        ) from None

    _check_file(path)
    if not path.is_file():
        raise ImageReadError(path, "is not a regular file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ImageReadError(path, f"not a readable HDF5/NeXus file ({exc})") from None


def _is_image(obj: Any) -> bool:
    import h5py

    if not isinstance(obj, h5py.Dataset) or obj.ndim < 2:
        return False
    if obj.dtype.kind not in "uif" or obj.dtype.itemsize > 8:
        return False
    return obj.shape[-1] >= 2 and obj.shape[-2] >= 2


def _datasets(f) -> list[ImageDataset]:
    found: list[ImageDataset] = []

    def visit(name: str, obj: Any) -> None:
        if _is_image(obj):
            found.append(ImageDataset("/" + name, tuple(obj.shape), np.dtype(obj.dtype)))

    # visititems does not follow soft/external links, so a link loop cannot hang it
    f.visititems(visit)
    return found


def list_image_datasets(path: str | Path) -> list[ImageDataset]:
    """Every image dataset of the file, in the file's order."""
    path = Path(path)
    with _open(path) as f:
        return _datasets(f)


def _attr(obj: Any, key: str) -> str | None:
    value = obj.attrs.get(key)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return value if isinstance(value, str) and value else None


def _nx_class(obj: Any) -> str | None:
    return _attr(obj, "NX_class")


def _signal_of(group: Any) -> str | None:
    import h5py

    name = _attr(group, "signal")
    if name and isinstance(group.get(name), h5py.Dataset) and _is_image(group[name]):
        return group[name].name
    return None


def _default_name(f) -> str | None:
    import h5py

    entry_name = _attr(f, "default")
    entry = f.get(entry_name) if entry_name else None
    if isinstance(entry, h5py.Group):
        data_name = _attr(entry, "default")
        data = entry.get(data_name) if data_name else None
        if isinstance(data, h5py.Group) and _signal_of(data):
            return _signal_of(data)
    hits: list[str] = []

    def visit(_name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Group) and _nx_class(obj) == "NXdata" and _signal_of(obj):
            hits.append(_signal_of(obj))

    f.visititems(visit)
    return hits[0] if hits else None


def default_dataset(path: str | Path) -> ImageDataset:
    """The dataset to show when the user does not choose: the NXdata signal, else the largest
    image dataset. A file without an image dataset is refused."""
    path = Path(path)
    with _open(path) as f:
        images = _datasets(f)
        if not images:
            raise ImageReadError(
                path, "holds no image dataset (a numeric dataset of 2 or more dimensions)"
            )
        name = _default_name(f)
    for ds in images:
        if ds.name == name:
            return ds
    return max(images, key=lambda d: (int(np.prod(d.shape, dtype=np.int64)), d.name))


class _NexusLoader:
    """Planes of one dataset, read one slice at a time from the open file."""

    compressed = False

    def __init__(self, path: Path, f: Any, dataset: Any):
        self.path = path
        self.file = f
        self.dataset = dataset
        self.outer = tuple(dataset.shape[:-2])

    def plane(self, index: int) -> Plane:
        where = np.unravel_index(index, self.outer) if self.outer else ()
        try:
            array = np.asarray(self.dataset[tuple(int(i) for i in where)])
        except Exception as exc:  # noqa: BLE001 - a broken chunk names the file and slice
            raise ImageReadError(
                self.path, f"{self.dataset.name}: cannot read slice {index} ({exc})"
            ) from None
        return Plane(np.ascontiguousarray(array.astype(array.dtype.newbyteorder("="), copy=False)))

    def close(self) -> None:
        try:
            self.file.close()
        except Exception:  # noqa: BLE001 - closing twice or after an error is harmless
            pass


def open_nexus(path: str | Path, dataset: str | None = None) -> ImageSource:
    """Open ``dataset`` of the HDF5/NeXus file (default: :func:`default_dataset`) as a lazy
    stack. A name that is not an image dataset, or a file without any, is refused."""
    path = Path(path)
    name = dataset or default_dataset(path).name
    f = _open(path)
    try:
        obj = f.get(name)
        if obj is None:
            raise ImageReadError(path, f"has no dataset {name!r}")
        if not _is_image(obj):
            raise ImageReadError(
                path,
                f"{name} is not an image dataset (shape {getattr(obj, 'shape', None)}, "
                f"type {getattr(obj, 'dtype', 'group')})",
            )
        dtype = _check_dtype(path, obj.dtype)
        shape = tuple(int(n) for n in obj.shape)
        check_image_size(path, shape[-2:], dtype.itemsize, what=f"dataset {name}")
        outer = shape[:-2]
        n = int(np.prod(outer, dtype=np.int64)) if outer else 1
        axes = ("IYX" if len(outer) == 1 else "YX") if len(outer) <= 1 else "Z" * len(outer) + "YX"
        source = ImageSource(
            path=path,
            dtype=dtype.newbyteorder("="),
            slice_shape=shape[-2:],
            n_slices=n,
            axes=axes,
            stack_shape=outer or (1,),
            metadata={"format": "HDF5/NeXus", "dataset": name},
            _loader=_NexusLoader(path, f, obj),
        )
    except BaseException:
        f.close()
        raise
    return source
