"""Sub-commands of the one `qbi-desktop` entry point, on the same core functions as the docks."""
