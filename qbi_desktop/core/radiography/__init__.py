"""The neutron/X-ray lab's own steps before annotation: normalisation with open-beam and
dark-current references, numbered file series and NeXus/HDF5 files opened as lazy stacks, and
spot cleaning of whole scans.

Modules: :mod:`.normalise` (T = (I - DC) / (OB - DC), attenuation, dose correction),
:mod:`.provenance` (float32 TIFF outputs with their references and parameters recorded),
:mod:`.series` (numbered file series), :mod:`.nexus` (HDF5 datasets through h5py),
:mod:`.clean` (spot cleaning of one frame and of a whole scan, locally or on a dask cluster).
Nothing here imports Qt.
"""

from qbi_desktop.core.radiography.normalise import (
    UNITS,
    Normalised,
    References,
    load_references,
    normalise,
    normalise_files_job,
)

__all__ = [
    "UNITS",
    "Normalised",
    "References",
    "load_references",
    "normalise",
    "normalise_files_job",
]
