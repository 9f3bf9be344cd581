"""The request context ``dockyard iam simulate`` decides with: the condition keys a real request
would carry (source address, TLS, request tags, any other key), so a policy with conditions can be
tried before it is relied on. Kept apart from the command so any CLI layout can attach it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from dockyard.auth.policy import ContextValue

F = TypeVar("F", bound=Callable[..., Any])


def context_options(command: F) -> F:
    """The simulate command's request-context options (their values arrive as keyword arguments)."""
    options = [
        click.option(
            "--context",
            "context_pairs",
            multiple=True,
            metavar="KEY=VALUE",
            help="A condition key's value, e.g. aws:PrincipalTag/team=blue (repeat a key: several values).",
        ),
        click.option("--source-ip", help="aws:SourceIp of the request (default: none, as for a local call)."),
        click.option(
            "--secure-transport/--no-secure-transport",
            default=False,
            help="aws:SecureTransport: whether the request came over TLS (default: no).",
        ),
        click.option(
            "--tag",
            "tag_pairs",
            multiple=True,
            metavar="KEY=VALUE",
            help="A tag the request carries: aws:RequestTag/KEY and aws:TagKeys.",
        ),
        click.option("--anonymous", is_flag=True, help="Simulate an unsigned request (no --user)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _pairs(values: Sequence[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, not {value!r}", param_hint=flag)
        pairs.append((key, item))
    return pairs


def simulation_context(
    context_pairs: Sequence[str], source_ip: str | None, secure_transport: bool, tag_pairs: Sequence[str]
) -> dict[str, ContextValue]:
    """The condition keys of the simulated request, as the front doors would set them.

    ``aws:CurrentTime`` comes from the injectable clock; a ``--context`` value overrides any key
    (``aws:CurrentTime=2030-01-01T00:00:00Z`` included).
    """
    # not at import: the CLI starts fast
    from dockyard.auth.request_context import RequestOrigin, request_context

    tags = dict(_pairs(tag_pairs, "--tag")) if tag_pairs else None
    origin = RequestOrigin(peer=source_ip, scheme="https" if secure_transport else "http")
    context = request_context(origin, tags)
    given: dict[str, list[str]] = {}
    for key, value in _pairs(context_pairs, "--context"):
        given.setdefault(key, []).append(value)
    for key, values in given.items():
        context[key] = values[0] if len(values) == 1 else values
    return context
