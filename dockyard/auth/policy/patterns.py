"""Wildcard patterns (``*``, ``?``) and policy variables (``${aws:username}``).

IAM matches actions case-insensitively and resources/ARNs case-sensitively, ARNs one
colon-separated component at a time (a ``*`` in the region does not swallow the account).
Policy variables are only recognised in documents with ``Version: 2012-10-17``; a variable whose
key is missing from the request (and has no default) makes the pattern match nothing, which is how
AWS keeps an unresolved ``${aws:username}`` from granting anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from dockyard.auth.policy.context import RequestContext


@dataclass(frozen=True, slots=True)
class Text:
    """Policy text; ``*`` and ``?`` in it are wildcards where the operator allows them."""

    text: str


@dataclass(frozen=True, slots=True)
class Escaped:
    """``${*}``, ``${?}``, ``${$}``: a character that must be matched literally."""

    char: str


@dataclass(frozen=True, slots=True)
class Variable:
    """``${key}`` or ``${key, 'default'}``."""

    key: str
    default: str | None


Token = Text | Escaped | Variable

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s]+)\s*,\s*'([^']*)'\s*$")


@lru_cache(maxsize=4096)
def tokenize(text: str, variables: bool) -> tuple[Token, ...]:
    """Split ``text`` into literal runs and variables (none when ``variables`` is false)."""
    if not variables or "${" not in text:
        return (Text(text),)
    tokens: list[Token] = []
    pos = 0
    for m in _VARIABLE.finditer(text):
        if m.start() > pos:
            tokens.append(Text(text[pos : m.start()]))
        body = m.group(1)
        if body in ("*", "?", "$"):
            tokens.append(Escaped(body))
        elif (d := _DEFAULT.match(body)) is not None:
            tokens.append(Variable(d.group(1), d.group(2)))
        else:
            tokens.append(Variable(body.strip(), None))
        pos = m.end()
    if pos < len(text):
        tokens.append(Text(text[pos:]))
    return tuple(tokens)


def has_variables(text: str) -> bool:
    return any(isinstance(t, Variable) for t in tokenize(text, True))


def _resolve(var: Variable, ctx: RequestContext | None) -> str | None:
    value = ctx.single_string(var.key) if ctx is not None else None
    return value if value is not None else var.default


def substitute(tokens: tuple[Token, ...], ctx: RequestContext | None) -> str | None:
    """The literal string the tokens stand for, or None if a variable cannot be resolved."""
    out: list[str] = []
    for tok in tokens:
        if isinstance(tok, Text):
            out.append(tok.text)
        elif isinstance(tok, Escaped):
            out.append(tok.char)
        else:
            value = _resolve(tok, ctx)
            if value is None:
                return None
            out.append(value)
    return "".join(out)


@lru_cache(maxsize=4096)
def _glob_regex(text: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)


def glob_regex(tokens: tuple[Token, ...], ctx: RequestContext | None) -> str | None:
    """A regex source for the tokens: wildcards in literals, everything else escaped."""
    out: list[str] = []
    for tok in tokens:
        if isinstance(tok, Text):
            out.append(_glob_regex(tok.text))
        elif isinstance(tok, Escaped):
            out.append(re.escape(tok.char))
        else:
            value = _resolve(tok, ctx)
            if value is None:
                return None
            out.append(re.escape(value))
    return "".join(out)


@lru_cache(maxsize=8192)
def _compiled(source: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(source, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(
    pattern: str,
    value: str,
    *,
    ignore_case: bool = False,
    variables: bool = False,
    ctx: RequestContext | None = None,
) -> bool:
    """Whole-string match of ``value`` against a ``*``/``?`` pattern."""
    source = glob_regex(tokenize(pattern, variables), ctx)
    if source is None:
        return False
    return _compiled(source, ignore_case).fullmatch(value) is not None


def split_arn_pattern(tokens: tuple[Token, ...]) -> list[tuple[Token, ...]]:
    """Split an ARN pattern on the colons of its literal text (never inside a variable)."""
    segments: list[list[Token]] = [[]]
    for tok in tokens:
        if not isinstance(tok, Text):
            segments[-1].append(tok)
            continue
        parts = tok.text.split(":")
        for i, part in enumerate(parts):
            if i:
                segments.append([])
            if part:
                segments[-1].append(Text(part))
    return [tuple(s) for s in segments]


def arn_segment_count(text: str, variables: bool) -> int:
    return len(split_arn_pattern(tokenize(text, variables)))


def arn_match(pattern: str, arn: str, *, variables: bool = False, ctx: RequestContext | None = None) -> bool:
    """Match an ARN against an ARN pattern, component by component, case-sensitively.

    The sixth component (the resource) takes the rest of the ARN, colons included. A pattern with
    fewer than six components (``*``, ``arn:aws:ecr:*``) is matched as a plain whole-string glob,
    which is what people writing such shorthand expect.
    """
    tokens = tokenize(pattern, variables)
    segments = split_arn_pattern(tokens)
    if len(segments) < 6:
        return glob_match(pattern, arn, variables=variables, ctx=ctx)
    head, tail = segments[:5], segments[5:]
    # Rejoin the resource component: its colons are literal characters again.
    resource: list[Token] = []
    for i, seg in enumerate(tail):
        if i:
            resource.append(Text(":"))
        resource.extend(seg)
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return False
    for seg, part in zip([*head, tuple(resource)], parts, strict=True):
        source = glob_regex(seg, ctx)
        if source is None or _compiled(source, False).fullmatch(part) is None:
            return False
    return True
