"""The terminal UI (Textual). Only `mlcycle tui` imports it, so the CLI stays fast."""
