"""The request context: condition keys and their values for one authorization request.

IAM condition key names are case-insensitive (``aws:SourceIp`` is ``aws:sourceip``), values
may be single or multi-valued, and callers hand us whatever Python type is natural (``bool`` for
``aws:SecureTransport``, ``datetime`` for ``aws:CurrentTime``). This class hides all of that
behind one lookup so the condition operators see a uniform list of values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime

ContextScalar = str | bool | int | float | datetime
ContextValue = ContextScalar | Sequence[ContextScalar]


def to_string(value: ContextScalar) -> str:
    """The string form IAM compares: ``true``/``false`` for booleans, ISO 8601 UTC for times."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


class RequestContext(Mapping[str, list[ContextScalar]]):
    """Case-insensitive, list-valued view of the condition keys of a request."""

    def __init__(self, values: Mapping[str, ContextValue] | None = None) -> None:
        self._values: dict[str, tuple[str, list[ContextScalar]]] = {}
        for key, value in (values or {}).items():
            self.set(key, value)

    def set(self, key: str, value: ContextValue) -> None:
        if isinstance(value, str | bool | int | float | datetime):
            items: list[ContextScalar] = [value]
        else:
            items = list(value)
        self._values[key.lower()] = (key, items)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._values

    def __getitem__(self, key: str) -> list[ContextScalar]:
        return self._values[key.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._values.values())

    def __len__(self) -> int:
        return len(self._values)

    def values_of(self, key: str) -> list[ContextScalar] | None:
        """The key's values, or None when the key is absent (an empty list counts as absent)."""
        entry = self._values.get(key.lower())
        if entry is None or not entry[1]:
            return None
        return entry[1]

    def single_string(self, key: str) -> str | None:
        """The value as a string when the key has exactly one value (for policy variables)."""
        values = self.values_of(key)
        if values is None or len(values) != 1:
            return None
        return to_string(values[0])
