"""The loop: the retraining queue and the worker that retrains, compares and promotes."""
