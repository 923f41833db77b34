"""The project catalog: items, labels, targets, masks, boxes, splits, review and provenance.

Public API: :func:`open_project` and :class:`Project` (project.py), filters and sorts
(queries.py), bias statistics (stats.py), splits (splits.py), thumbnails (thumbnails.py).
"""

from qbi_desktop.core.catalog import splits, stats
from qbi_desktop.core.catalog.errors import (
    CatalogCorruptError,
    ImportRejected,
    NotAProjectError,
    Problem,
    ProjectError,
    ProjectReadOnlyError,
    SchemaTooNewError,
)
from qbi_desktop.core.catalog.project import (
    METADATA_FIELDS,
    Box,
    NewItem,
    Project,
    Writer,
    open_project,
)
from qbi_desktop.core.catalog.queries import NONE, SORT_COLUMNS, Filters
from qbi_desktop.core.catalog.schema import (
    PROVENANCE_KINDS,
    REVIEW_STATES,
    SCHEMA_VERSION,
    SPLITS,
)

__all__ = [
    "Box",
    "CatalogCorruptError",
    "Filters",
    "ImportRejected",
    "METADATA_FIELDS",
    "NONE",
    "NewItem",
    "NotAProjectError",
    "PROVENANCE_KINDS",
    "Problem",
    "Project",
    "ProjectError",
    "ProjectReadOnlyError",
    "REVIEW_STATES",
    "SCHEMA_VERSION",
    "SORT_COLUMNS",
    "SPLITS",
    "SchemaTooNewError",
    "Writer",
    "open_project",
    "splits",
    "stats",
]
