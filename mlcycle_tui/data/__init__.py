"""Data: ingest files and tables into versioned datasets, profile, validate, split, watch sources."""
