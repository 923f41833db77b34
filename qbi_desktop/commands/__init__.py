"""Sub-commands of the one `qbi-desktop` entry point; each calls the same core functions as a dock."""
