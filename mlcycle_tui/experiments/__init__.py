"""Experiments: the model catalog, preprocessing, training, search, tracked runs and evaluation."""
