"""The core: numpy / scipy / scikit-image / scikit-learn / tifffile only. Never imports Qt."""
