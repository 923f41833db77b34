"""The hostile-input corpus and its harness (issue 17).

``make_corpus.py`` writes every crafted case into a folder (nothing binary is committed);
``harness.py`` runs each case through every entry point that reads that kind of file, each in
its own forked child under a 4 GiB address-space cap and a 60 s limit, and judges the outcome.
"""
