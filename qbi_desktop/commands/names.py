"""Name options of the commands, checked by argparse: an ``--annotator`` that could not be an
annotator's name (blank, too long, a line break or another control character that would break
the TSV and CSV lines it is printed in) is refused at once (exit 2, one line naming the option),
by the same rule as the catalog and the GUI (:func:`~qbi_desktop.core.catalog.classes.
annotator_name_problem`)."""

from __future__ import annotations

import argparse


def annotator(text: str) -> str:
    """An argparse ``type``: an annotator's name."""
    from qbi_desktop.core.catalog.classes import annotator_name_problem

    problem = annotator_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text
