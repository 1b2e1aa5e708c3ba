"""Predictions: scoring rows and files, the prediction log and feedback, scheduled scoring."""
