"""What free text means, without I/O: words, and the newest-first day windows a search walks.

A word is a run of ASCII letters and digits, lower-cased; everything else (punctuation,
spaces, non-ASCII characters) separates words. The text matches an event when its words, in
order, are consecutive words anywhere in the event's resource identifier or in its principal
e-mail, the last one possibly only the beginning of a word: "falcon-24" matches
"pipeline-falcon-240" and "Pipeline_Falcon_24"; it does not match "pipeline-falconer-24" (a
word before the last is whole), "falcon-x-24" (consecutive) or "peregrinefalcon-24" (words
start at a separator). The store's SQL (audit_words in migration 0006) normalizes the same
way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.audit.domain.errors import InvalidArgument

_SEPARATORS = re.compile(r"[^a-z0-9]+")
_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
INDEXED_WORD_CHARS = 64  # the index keeps a word's first 64 characters (migration 0006)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def words(value: str) -> list[str]:
    """The words of a value, in order (only ASCII letters are lower-cased, as in SQL)."""
    return [w for w in _SEPARATORS.split(value.translate(_UPPER)) if w]


def search_words(text: str) -> list[str]:
    """The words of a filter's text; a text without any is refused (it would match nothing
    anyone meant)."""
    found = words(text)
    if not found:
        raise InvalidArgument("filter.text", "has no letters or digits to search for")
    return found


def day_number(moment: datetime) -> int:
    """Days since 1970-01-01 in UTC: the day part of the index terms."""
    return (moment - EPOCH) // DAY


@dataclass(frozen=True)
class Window:
    """A stretch [start, end) of a search, inside the UTC days first_day..last_day."""

    start: datetime
    end: datetime
    first_day: int
    last_day: int


def windows(start: datetime, end: datetime) -> list[Window]:
    """[start, end) cut at UTC midnights into windows, newest first, of 1, 1, 2, 4, 8, ...
    days: a page of a frequent word fills from the newest day alone, a rare one costs a few
    index lookups even over a year."""
    if end <= start:
        return []
    newest, oldest = day_number(end - timedelta(microseconds=1)), day_number(start)
    found: list[Window] = []
    last, size = newest, 1
    while last >= oldest:
        first = max(oldest, last - size + 1)
        found.append(
            Window(max(start, EPOCH + first * DAY), min(end, EPOCH + (last + 1) * DAY), first, last)
        )
        last = first - 1
        size = size if len(found) == 1 else size * 2
    return found
