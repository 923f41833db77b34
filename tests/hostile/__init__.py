"""The hostile-input corpus and its harness (issue 17).

- ``make_corpus.py`` writes every crafted case into a folder (nothing binary is committed); the
  cases live in ``cases_images``, ``cases_annotations`` (COCO, labelme, sheets), ``cases_arrays``
  (MNIST, NPZ), ``cases_archives`` (archives, journals) and ``cases_projects`` (pipelines,
  parameters, Data Packages, broken projects), built with the byte-level helpers of ``blobs``
  and registered in ``registry``.
- ``harness.py`` runs each case through every entry point that reads that kind of file
  (``entries.py``), each in its own forked child under a 4 GiB address-space cap and a 60 s
  limit, judges the outcome and writes the per-class figures and the status table.
- ``kill_driver.py`` runs one real job and SIGKILLs itself at a seeded point (tests/test_faults.py).
- ``known_failures.py`` lists the (case, entry point) pairs still failing: strict xfails.
"""
