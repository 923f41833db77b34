"""What a journal holds, in the words every message uses (leftovers at start-up, the recovery
prompt, the Annotate status): a recovered mask saved nowhere else counts, not only strokes."""

from __future__ import annotations

import numpy as np

from qbi_desktop.core.annotation import leftovers
from qbi_desktop.core.annotation.journal import ImageIdentity, Journal, describe_unsaved


def test_describe_unsaved_names_strokes_and_a_recovered_mask():
    assert describe_unsaved(3, False) == "3 stroke(s)"
    assert describe_unsaved(0, True) == "a mask recovered earlier, never saved"
    assert describe_unsaved(2, True) == "a mask recovered earlier, never saved, and 2 stroke(s)"


def test_a_journal_of_a_recovered_mask_is_reported_as_such(tmp_path, monkeypatch):
    monkeypatch.setenv("QBI_DESKTOP_HOME", str(tmp_path / "home"))
    image = np.arange(48 * 40, dtype=np.uint16).reshape(48, 40)
    ident = ImageIdentity.of(image, tmp_path / "a.tif")
    base = np.zeros(image.shape, np.uint8)
    base[5:9, 5:9] = 1
    journal = Journal.open_for(ident, base_mask=base, base_unsaved=True)
    pending = Journal.pending_at(journal.path, ident)
    journal.close()  # as by a crash, no stroke since the recovery
    assert pending is not None and pending.describe() == "a mask recovered earlier, never saved"
    found = leftovers.clean_leftovers()
    assert [u.describe() for u in found.unsaved] == [
        "a.tif (a mask recovered earlier, never saved)"
    ]
    assert "0 stroke(s)" not in found.message()
