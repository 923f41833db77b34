"""QBI Desktop: a workbench that turns raw imaging measurements into well-labelled training data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qbi-desktop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
