"""``qbi-desktop info`` only reads, yet on a full disk it ended with "disk full while writing the
catalog ... nothing was written" (the ordinary open writes SQLite's shared-memory and journal
files). With no change pending in the catalog's WAL it now reads the catalog as it is on disk
and prints the counts, changing nothing."""

from __future__ import annotations

import numpy as np
import tifffile

try:
    from tests.cli_helpers import run_cli
    from tests.test_write_faults import _fill, small_disk  # noqa: F401 - the fixture
except ImportError:  # pragma: no cover
    from cli_helpers import run_cli
    from test_write_faults import _fill, small_disk  # noqa: F401


def test_info_on_a_full_disk_prints_the_counts_and_writes_nothing(tmp_path, small_disk):
    for label in ("cell", "dust"):
        (tmp_path / "src" / label).mkdir(parents=True)
        for i in range(3 if label == "cell" else 2):
            image = np.full((16, 16), i, np.uint16)
            tifffile.imwrite(tmp_path / "src" / label / f"{label}{i}.tif", image)
    project = small_disk / "p"
    done = run_cli(
        "import", "--project", str(project), "--kind", "imagefolder", str(tmp_path / "src")
    )
    assert done.returncode == 0, done.stderr
    catalog = (project / "catalog.sqlite").read_bytes()
    _fill(small_disk, 0)
    done = run_cli("info", "--project", str(project))
    assert done.returncode == 0, done.stderr
    assert f"{project}: 5 item(s)" in done.stdout
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:4]}
    assert rows == {"cell": ["3", "3"], "dust": ["2", "2"]}
    assert (project / "catalog.sqlite").read_bytes() == catalog  # the project is unchanged
