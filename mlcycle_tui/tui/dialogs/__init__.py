"""Modal dialogs (help, ingest, split): each one a small ModalScreen."""
