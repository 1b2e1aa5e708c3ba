"""The model registry: versions, aliases, promotion gates, compiled forms and exports."""
