"""Label quality: feature vectors per item (features.py), the audit of wrong labels,
duplicates, leaks and outliers (audit.py), suggestions and the "label next" order (suggest.py).
Classical models only: the project's exact kNN on pixels at a common size."""
