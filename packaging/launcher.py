"""Entry script of the frozen app (PyInstaller): the same ``main`` as ``qbi-desktop``."""

import multiprocessing
import sys

from qbi_desktop.cli import main

if __name__ == "__main__":
    # Batch augmentation uses worker processes; a frozen app must hand them their work
    # (spawn start method: Windows and macOS).
    multiprocessing.freeze_support()
    sys.exit(main())
