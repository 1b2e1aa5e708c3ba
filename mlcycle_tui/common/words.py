"""Words for counts: "1 row", "2 rows", "1 category". Every front door and stage says numbers the same way."""

from __future__ import annotations

IRREGULAR_PLURALS = {"category": "categories", "entry": "entries", "query": "queries", "match": "matches",
                     "status": "statuses"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """A count with its noun in the right number: "1 row", "2 rows", "1 category", "1,200 predictions"."""
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {many or IRREGULAR_PLURALS.get(word) or word + 's'}"
