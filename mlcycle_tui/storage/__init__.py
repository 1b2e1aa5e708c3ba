"""Storage: the SQLite database and the content-addressed artifact store."""
