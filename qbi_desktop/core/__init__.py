"""The core: numpy / scipy / scikit-image / scikit-learn / tifffile only. Never imports Qt."""

import logging

# tifffile logs what it finds wrong in a file ("<tifffile.TiffPages @16> invalid offset to
# first page 16") and, with no handler configured, Python prints it raw on stderr, naming no
# file, before our own message that does. The readers report every such file themselves; the
# records still reach any handler an application installs (they propagate as before).
logging.getLogger("tifffile").addHandler(logging.NullHandler())
