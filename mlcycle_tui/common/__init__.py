"""Helpers every layer uses: errors users see, time stamps, JSON-safe values."""
