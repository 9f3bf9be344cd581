"""Where things are: registry hosts, repository URIs and ARNs.

By default addresses follow the host the client used, so a `repositoryUri` is
pushable as-is. With `uri_style = "aws"` they take AWS's exact forms. The plain host
serves the default account. On a host *name*, other accounts are reached on a host whose
first label is the account ID (`111122223333.<host>` here,
`111122223333.dkr.ecr.<region>.amazonaws.com` in AWS style).

An IP literal or `localhost` cannot take a label (`111122223333.127.0.0.1` resolves
nowhere), so there every account's URI is the plain host, and `/v2/` on it addresses the
account of the caller's credential (the default account for anonymous callers). Reaching
another account's repositories (cross-account pulls) needs a host name: `--public-host`.

This machine's loopback address is always named `localhost[:port]` (:func:`canonical_host`):
docker sends plain HTTP only to loopback registries (without TLS, anything else needs an
`insecure-registries` entry), and it keeps logins per host *name*, so `127.0.0.1:5000` and
`localhost:5000` would be two registries to it. One name everywhere keeps one login working.
"""

from __future__ import annotations

import ipaddress
import re

from dockyard.config import Settings

_ACCOUNT_LABEL = re.compile(r"^([0-9]{12})\.")
_LOOPBACK = re.compile(r"^(?:127(?:\.[0-9]{1,3}){3}|\[::1\])(:[0-9]+)?$")
_ANY_ADDRESS = ("0.0.0.0", "::", "")


def canonical_host(host: str) -> str:
    """``localhost[:port]`` for a loopback address (``127.x.x.x``, ``[::1]``), else ``host`` as is."""
    m = _LOOPBACK.match(host)
    return f"localhost{m.group(1) or ''}" if m else host


def local_address(settings: Settings) -> str:
    """``host:port`` to reach this server at from this machine (or its public host), for messages."""
    if settings.public_host:
        return settings.public_host
    host = settings.host
    if host in _ANY_ADDRESS:
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return canonical_host(f"{host}:{settings.port}")


def account_for_host(settings: Settings, host: str | None, caller_account: str | None = None) -> str:
    """The account a request addresses: the host's 12-digit first label; on a host that cannot
    carry one (IP literal, localhost), the caller's own account; else the default account."""
    if host:
        m = _ACCOUNT_LABEL.match(host)
        if m:
            return m.group(1)
        if caller_account and not takes_account_label(host):
            return caller_account
    return settings.account_id


def takes_account_label(host: str) -> bool:
    """Whether `<account>.<host>` names something a client can reach: a host name does (with a
    wildcard DNS entry), an IP literal or `localhost` does not."""
    name = host.strip()
    if name.startswith("["):  # [IPv6]:port
        return False
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    if name.lower() == "localhost":
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return True
    return False


def registry_host(settings: Settings, account_id: str, request_host: str, region: str | None = None) -> str:
    if settings.uri_style == "aws":
        return f"{account_id}.dkr.ecr.{region or settings.region}.amazonaws.com"
    base = settings.public_host or request_host
    base = canonical_host(_ACCOUNT_LABEL.sub("", base))
    if account_id == settings.account_id or not takes_account_label(base):
        return base
    return f"{account_id}.{base}"


def repository_uri(
    settings: Settings, account_id: str, name: str, request_host: str, region: str | None = None
) -> str:
    return f"{registry_host(settings, account_id, request_host, region)}/{name}"


def repository_arn(account_id: str, region: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{account_id}:repository/{name}"


def parse_repository_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, name) of a repository ARN, or None."""
    m = re.match(r"^arn:aws[a-z-]*:ecr:([a-z0-9-]+):([0-9]{12}):repository/(.+)$", arn)
    return (m.group(1), m.group(2), m.group(3)) if m else None
