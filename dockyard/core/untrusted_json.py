"""JSON that clients send: every hostile document is a ValueError at parse time.

`json.loads` accepts what later code cannot survive: nesting deep enough to exhaust the
interpreter's stack (in the parser itself, or in any recursive walk of the result) and
lone UTF-16 surrogates (`"\\ud800"`), which no database or encoder accepts. Parsing
client text through `loads` turns both into a `json.JSONDecodeError` (a ValueError), so
each door answers with its own "invalid JSON" error instead of a 500.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any manifest, policy, lifecycle document or ECR request legitimately nests,
# shallow enough that recursive code over the result stays far from the recursion limit.
MAX_DEPTH = 64


def loads(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """`json.loads(text, **kwargs)`, refusing nesting past `max_depth` and lone surrogates."""
    try:
        document = json.loads(text, **kwargs)
    except RecursionError:
        raise _invalid(f"nested more than {max_depth} levels deep") from None
    _check(document, max_depth, may_have_surrogates=_has_escapes(text))
    return document


def _has_escapes(text: str | bytes | bytearray) -> bool:
    """Surrogates only come from `\\u` escapes (decoded UTF-8 has none)."""
    return (b"\\u" in text) if isinstance(text, bytes | bytearray) else ("\\u" in text)


def _check(document: Any, max_depth: int, *, may_have_surrogates: bool) -> None:
    """Walk the document without recursion: its depth, and (if escapes occur) its strings."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > max_depth:
                raise _invalid(f"nested more than {max_depth} levels deep")
            for key, item in value.items():
                if may_have_surrogates:
                    _check_string(key)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > max_depth:
                raise _invalid(f"nested more than {max_depth} levels deep")
            stack.extend((item, depth + 1) for item in value)
        elif may_have_surrogates and isinstance(value, str):
            _check_string(value)


def _check_string(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(
            "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"
        ) from None


def _invalid(message: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(message, "", 0)
