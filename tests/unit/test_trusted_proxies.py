"""The client's address and scheme behind trusted proxies (auth/request_context.py): forwarding
headers are believed only from trusted peers, and only up to the right-most untrusted hop."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.request_context import RequestOrigin, TrustedProxies, with_origin

PROXIES = TrustedProxies.parse("10.0.0.0/8, 192.168.1.1, fd00::/8")


def scope(peer: str, *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    return {
        "client": (peer, 40000),
        "scheme": scheme,
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }


def origin(peer: str, *headers: tuple[str, str], scheme: str = "http") -> RequestOrigin:
    return RequestOrigin.from_asgi(scope(peer, *headers, scheme=scheme), PROXIES)


def test_parse_cidrs_and_addresses() -> None:
    assert [str(n) for n in PROXIES.networks] == ["10.0.0.0/8", "192.168.1.1/32", "fd00::/8"]
    assert TrustedProxies.parse(["127.0.0.1/32", "::1"]).trusts("::1")
    assert TrustedProxies.parse("10.1.2.3/8").networks[0].exploded == "10.0.0.0/8"  # host bits: the network
    assert not TrustedProxies.parse("")
    for bad in ("10.0.0.0/33", "proxy.internal", "10.0.0.0/8;rm"):
        with pytest.raises(ValueError, match="not an IP address or CIDR"):
            TrustedProxies.parse(bad)


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    forged = (("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-Proto", "https"), ("Forwarded", "for=1.2.3.4"))
    assert origin("203.0.113.5", *forged) == RequestOrigin("203.0.113.5", "http")
    # Without any trusted proxy configured, nothing is believed, even from a private address.
    assert RequestOrigin.from_asgi(scope("10.0.0.1", *forged)) == RequestOrigin("10.0.0.1", "http")


def test_x_forwarded_for_from_a_trusted_proxy() -> None:
    assert origin("10.0.0.1") == RequestOrigin("10.0.0.1", "http")  # no header: the proxy itself
    assert origin("10.0.0.1", ("X-Forwarded-For", "203.0.113.7")) == RequestOrigin("203.0.113.7", "http")
    proto = ("X-Forwarded-Proto", "https")
    assert origin("10.0.0.1", ("X-Forwarded-For", "203.0.113.7"), proto) == RequestOrigin(
        "203.0.113.7", "https"
    )
    assert origin("10.0.0.1", proto) == RequestOrigin("10.0.0.1", "https")  # only the scheme


def test_chains_stop_at_the_right_most_untrusted_hop() -> None:
    # The client forged the first entry; the proxy appended the real one.
    assert origin("10.0.0.1", ("X-Forwarded-For", "1.1.1.1, 203.0.113.7")).peer == "203.0.113.7"
    # Two trusted proxies in a row are skipped.
    chain = ("X-Forwarded-For", "1.1.1.1, 203.0.113.7, 10.2.2.2, 192.168.1.1")
    assert origin("10.0.0.1", chain).peer == "203.0.113.7"
    # Every hop trusted: the left-most one.
    assert origin("10.0.0.1", ("X-Forwarded-For", "10.3.3.3, 10.2.2.2")).peer == "10.3.3.3"
    # Several X-Forwarded-For headers are one list.
    assert origin("10.0.0.1", ("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.7")).peer == (
        "203.0.113.7"
    )


def test_scheme_of_the_clients_hop() -> None:
    headers = (("X-Forwarded-For", "203.0.113.7, 10.2.2.2"), ("X-Forwarded-Proto", "https, http"))
    assert origin("10.0.0.1", *headers) == RequestOrigin("203.0.113.7", "https")
    # One scheme for a longer chain: the nearest proxy's word.
    headers = (("X-Forwarded-For", "203.0.113.7, 10.2.2.2"), ("X-Forwarded-Proto", "https"))
    assert origin("10.0.0.1", *headers) == RequestOrigin("203.0.113.7", "https")
    assert origin("10.0.0.1", ("X-Forwarded-Proto", "gopher")) == RequestOrigin("10.0.0.1", "http")
    assert origin("10.0.0.1", ("X-Forwarded-Proto", "HTTPS")).scheme == "https"


def test_forwarded_header() -> None:
    assert origin("10.0.0.1", ("Forwarded", "for=203.0.113.7;proto=https;by=10.0.0.1")) == RequestOrigin(
        "203.0.113.7", "https"
    )
    header = 'for=1.1.1.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.2.2.2'
    assert origin("10.0.0.1", ("Forwarded", header)) == RequestOrigin("2001:db8:cafe::17", "https")
    assert origin("10.0.0.1", ("Forwarded", 'For="203.0.113.7:80"')).peer == "203.0.113.7"
    # X-Forwarded-For, which proxies commonly manage, wins over a Forwarded header a client sent.
    both = (("Forwarded", "for=1.1.1.1"), ("X-Forwarded-For", "203.0.113.7"))
    assert origin("10.0.0.1", *both).peer == "203.0.113.7"


def test_ipv6_peers_and_hops() -> None:
    assert origin("fd00::1", ("X-Forwarded-For", "2001:db8::5")).peer == "2001:db8::5"
    assert origin("fd00::1", ("X-Forwarded-For", "[2001:db8::5]:443")).peer == "2001:db8::5"
    # An IPv4 proxy seen through a dual-stack socket.
    assert origin("::ffff:10.0.0.1", ("X-Forwarded-For", "203.0.113.7")).peer == "203.0.113.7"
    assert origin("2001:db8::9", ("X-Forwarded-For", "203.0.113.7")).peer == "2001:db8::9"


@pytest.mark.parametrize(
    "headers",
    [
        (("X-Forwarded-For", "unknown"),),
        (("X-Forwarded-For", "_hidden"),),
        (("X-Forwarded-For", "203.0.113.7 garbage"),),
        (("X-Forwarded-For", "[2001:db8::5"),),
        (("X-Forwarded-For", "999.1.1.1"),),
        (("Forwarded", "for=203.0.113.7;;;=="),),
        (("Forwarded", 'for="203.0.113.7'),),
        (("Forwarded", "proto=https"),),
    ],
)
def test_malformed_hops_leave_the_proxys_address(headers: tuple[tuple[str, str], ...]) -> None:
    assert origin("10.0.0.1", *headers).peer == "10.0.0.1"


def test_malformed_hop_left_of_the_client_does_not_matter() -> None:
    assert origin("10.0.0.1", ("X-Forwarded-For", "garbage, 203.0.113.7")).peer == "203.0.113.7"


def test_with_origin_rewrites_the_scope_for_everything_downstream() -> None:
    raw = scope("10.0.0.1", ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https"))
    seen = with_origin(raw, PROXIES)
    assert seen["client"] == ("203.0.113.7", 0) and seen["scheme"] == "https"
    assert raw["client"] == ("10.0.0.1", 40000)  # the original is left alone
    assert RequestOrigin.from_asgi(seen) == RequestOrigin("203.0.113.7", "https")
    untouched = scope("203.0.113.5", ("X-Forwarded-For", "10.9.9.9"))
    assert with_origin(untouched, PROXIES) is untouched
    assert with_origin(raw, TrustedProxies()) is raw
