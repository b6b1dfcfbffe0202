"""A small dated news corpus for the workflow tests (browsing, export, watch): three sources over
January 2025, one undated article, one story published twice (a copy search folds), and text with
commas, quotes, line breaks, non-ASCII and tags, which the export formats must carry exactly."""

from __future__ import annotations

import json
from pathlib import Path

_STORY = ("The harbour authority closed the northern ferry terminal on Monday after a storm damaged the "
          "pier, stranding hundreds of passengers overnight. Engineers inspected the structure and said "
          "repairs would take at least two weeks, while ferries were diverted to the southern terminal. "
          "Local businesses said the closure would cost them dearly during the busiest month of the year.")

ARTICLES: list[dict[str, object]] = [
    {"id": "ferry-1", "title": "Storm closes ferry terminal", "body": _STORY, "date": "2025-01-20T09:00:00Z",
     "source": "Harbour Times", "author": "Ann Lee", "url": "https://example.com/ferry-1", "tags": ["ferry", "storm"]},
    {"id": "ferry-2", "title": "Ferry terminal shut by storm", "body": _STORY + " A spokesman declined to comment.",
     "date": "2025-01-20T11:30:00Z", "source": "Wire", "tags": ["ferry"]},
    {"id": "budget", "title": "Council budget, \"final\" draft",
     "body": "The council approved its budget, with cuts to parks, libraries and roads.\n\nCafé owners protested.",
     "date": "2025-01-15T14:00:00Z", "source": "Harbour Times", "author": "Bo Chen", "tags": ["council"]},
    {"id": "match", "title": "Harbour FC win the derby", "body": "Harbour FC beat their rivals 2-1 in the derby.",
     "date": "2025-01-18T20:00:00Z", "source": "Sport Daily"},
    {"id": "ferry-old", "title": "New ferry ordered", "body": "The ferry company ordered a new ferry for the route.",
     "date": "2024-12-02T08:00:00Z", "source": "Wire"},
    {"id": "undated", "title": "Lighthouse history", "body": "The lighthouse was built in 1890 to guide ferry traffic.",
     "source": "Harbour Times"},
]


def write_news(folder: Path, articles: list[dict[str, object]] | None = None) -> Path:
    """One JSON file per article in ``folder`` (made if missing); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for article in ARTICLES if articles is None else articles:
        (folder / f"{article['id']}.json").write_text(json.dumps(article), encoding="utf-8")
    return folder
