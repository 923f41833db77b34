"""QBI Desktop: a workbench that turns raw imaging measurements into well-labelled training data."""


def __getattr__(name: str):
    # Looked up on first use: importlib.metadata scans the installed packages, a cost every
    # start of the window would pay for a number it shows only in About and --version.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("qbi-desktop")
        except PackageNotFoundError:  # running from a source tree that is not installed
            value = "0.0.0+source"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
