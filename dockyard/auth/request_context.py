"""The condition keys a request brings to policy evaluation, built in one place for every door.

A door describes where a request came from (:class:`RequestOrigin`) and, when the request
carries tags, what they are; everything else (the time, which keys exist) is decided here.

Behind a reverse proxy every connection comes from the proxy, so the client's address and
scheme are taken from ``X-Forwarded-For``/``X-Forwarded-Proto`` (or ``Forwarded``), but only
when the connection comes from a configured trusted proxy (:class:`TrustedProxies`); from
anyone else those headers are ignored, since any client can send them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from dockyard import clock
from dockyard.auth.policy import ContextValue

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose connections may say, in forwarding headers, who the client is."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, cidrs: str | Iterable[str]) -> TrustedProxies:
        """From ``"10.0.0.0/8, ::1"`` or a list of CIDRs / addresses.

        ValueError: an entry that is not an IP address or network (naming it).
        """
        entries = cidrs.replace(",", " ").split() if isinstance(cidrs, str) else list(cidrs)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
        return cls(tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        ip = _ip(address)
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # an IPv4 peer of a dual-stack socket
        return any(ip in network for network in self.networks)


NO_PROXIES = TrustedProxies()


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a request came from: its client's address and the scheme it reached us with."""

    peer: str | None = None  # the client's address, for aws:SourceIp
    scheme: str = "http"  # "https" when it reached us (or the trusted proxy) over TLS

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any], proxies: TrustedProxies = NO_PROXIES) -> RequestOrigin:
        """The origin of an ASGI HTTP request: its ``client`` and ``scheme``, or, when the
        connection comes from one of ``proxies``, what their forwarding headers say."""
        client = scope.get("client")
        direct = cls(client[0] if client else None, scope.get("scheme", "http"))
        if not proxies.trusts(direct.peer):
            return direct
        hops = _forwarded_hops(scope.get("headers") or ())
        if not hops:
            return direct
        # The client is the right-most hop no trusted proxy vouches for; a hop we cannot read
        # ends the chain there (the proxy that reported it is the last address we know).
        peer, index = direct.peer, len(hops) - 1
        while index >= 0:
            address = hops[index][0]
            if address is None:
                break
            peer = address
            if not proxies.trusts(address):
                break
            index -= 1
        # The scheme reported for that hop, else the nearest one reported closer to us.
        scheme = next((proto for _, proto in hops[max(index, 0) :] if proto), direct.scheme)
        return cls(peer, scheme)


def with_origin(scope: MutableMapping[str, Any], proxies: TrustedProxies) -> MutableMapping[str, Any]:
    """``scope`` with ``client`` and ``scheme`` as the forwarding headers of a trusted proxy give
    them, so everything that reads the scope (the doors' origin, URLs they build) sees the client."""
    if not proxies:
        return scope
    origin = RequestOrigin.from_asgi(scope, proxies)
    client = scope.get("client")
    if client and origin.peer == client[0] and origin.scheme == scope.get("scheme"):
        return scope
    return {**scope, "client": (origin.peer, 0) if origin.peer else client, "scheme": origin.scheme}


def request_context(
    origin: RequestOrigin, request_tags: Mapping[str, str] | None = None
) -> dict[str, ContextValue]:
    """The condition keys a door knows about a request (``aws:SourceIp``, ``aws:SecureTransport``,
    ``aws:CurrentTime``; ``aws:RequestTag/*`` and ``aws:TagKeys`` when the request carries tags)."""
    context: dict[str, ContextValue] = {
        "aws:SecureTransport": origin.scheme == "https",
        "aws:CurrentTime": clock.now(),
    }
    if origin.peer:
        context["aws:SourceIp"] = origin.peer
    if request_tags is not None:
        for key, value in request_tags.items():
            context[f"aws:RequestTag/{key}"] = value
        context["aws:TagKeys"] = list(request_tags)
    return context


# ----------------------------------------------------------------------- forwarding headers

Hop = tuple[str | None, str | None]  # (address or None if unreadable, scheme or None)


def _forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[Hop]:
    """The hops the forwarding headers list, left (the original client) to right (the proxy's
    own client). ``X-Forwarded-For`` wins over ``Forwarded`` (it is what proxies commonly set, and
    a header the proxy does not manage is whatever the client sent); a proxy that sets only
    ``Forwarded`` must drop ``X-Forwarded-*`` from requests."""
    values: dict[bytes, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.decode("latin-1"))
    if b"x-forwarded-for" in values or b"x-forwarded-proto" in values:
        addresses = _split(values.get(b"x-forwarded-for", []))
        protos: list[str | None] = [_scheme(p) for p in _split(values.get(b"x-forwarded-proto", []))]
        if not addresses:  # only the scheme: it describes the proxy's own client
            return [(None, protos[-1])] if protos else []
        # Aligned from the right: each proxy appends its client's address and scheme.
        missing: list[str | None] = [None] * (len(addresses) - len(protos))
        protos = missing + protos[-len(addresses) :]
        return [(_node(a), p) for a, p in zip(addresses, protos, strict=True)]
    if b"forwarded" in values:
        return _parse_forwarded(", ".join(values[b"forwarded"]))
    return []


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _scheme(value: str) -> str | None:
    value = value.strip().strip('"').lower()
    return value if value in ("http", "https") else None


_PAIR = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*([;,]|$)')


def _parse_forwarded(header: str) -> list[Hop]:
    """RFC 7239 elements as hops; a malformed header gives one unreadable hop."""
    hops: list[Hop] = []
    element: dict[str, str] = {}
    pos = 0
    while pos < len(header):
        m = _PAIR.match(header, pos)
        if m is None:
            return [(None, None)]
        key, value, separator = m.group(1).lower(), m.group(2), m.group(3)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        element[key] = value
        pos = m.end()
        if separator != ";":
            hops.append((_node(element.get("for", "")), _scheme(element.get("proto", ""))))
            element = {}
    return hops


def _node(value: str) -> str | None:
    """The address of a forwarded node (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), or
    None when it is not one (``unknown``, an obfuscated ``_name``, garbage)."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    ip = _ip(value)
    return str(ip) if ip is not None else None


def _ip(value: str | None) -> Address | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None
