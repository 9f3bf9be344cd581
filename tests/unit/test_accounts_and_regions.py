"""Which account a host addresses, which URIs reach an account, and which regions a token serves
(issue 15, items 4 and 5)."""

from __future__ import annotations

import pytest

from dockyard import addresses
from dockyard.auth.principals import Principal
from dockyard.auth.tokens import TokenInvalid, TokenSigner
from dockyard.config import Settings

OTHER = "111122223333"


@pytest.mark.parametrize(
    ("host", "takes"),
    [
        ("127.0.0.1:5000", False),
        ("127.0.0.1", False),
        ("[::1]:5000", False),
        ("::1", False),
        ("localhost:5000", False),
        ("LOCALHOST", False),
        ("registry.example:443", True),
        ("registry.example", True),
        ("registry.localtest.me:5000", True),
    ],
)
def test_only_host_names_take_an_account_label(host: str, takes: bool) -> None:
    assert addresses.takes_account_label(host) is takes


def test_every_repository_uri_on_an_ip_or_localhost_is_the_plain_host() -> None:
    settings = Settings()
    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):  # loopback is named localhost
        assert addresses.repository_uri(settings, OTHER, "team/app", host) == "localhost:5000/team/app"
        assert addresses.repository_uri(settings, settings.account_id, "app", host) == "localhost:5000/app"
    assert addresses.repository_uri(settings, OTHER, "app", "10.1.2.3:5000") == "10.1.2.3:5000/app"
    named = "registry.example:5000"
    assert addresses.repository_uri(settings, OTHER, "app", named) == f"{OTHER}.{named}/app"
    assert addresses.repository_uri(settings, settings.account_id, "app", named) == f"{named}/app"
    # A public host name wins over the address the request came in on.
    public = Settings(public_host="registry.example")
    assert addresses.registry_host(public, OTHER, "127.0.0.1:5000") == f"{OTHER}.registry.example"


def test_the_plain_ip_host_addresses_the_callers_account() -> None:
    settings = Settings()
    assert addresses.account_for_host(settings, "127.0.0.1:5000", OTHER) == OTHER
    assert addresses.account_for_host(settings, "localhost:5000", OTHER) == OTHER
    assert addresses.account_for_host(settings, "127.0.0.1:5000", None) == settings.account_id
    # On a host name the plain host is the default account; a label names any other.
    assert addresses.account_for_host(settings, "registry.example", OTHER) == settings.account_id
    assert addresses.account_for_host(settings, f"{OTHER}.registry.example", None) == OTHER
    assert addresses.account_for_host(settings, f"{OTHER}.127.0.0.1:5000", "999988887777") == OTHER


def test_the_development_account_is_the_default_account() -> None:
    from dockyard.config import settings_from_options

    settings = settings_from_options({"dev_accept_any_credentials": "123456789012"})
    assert settings.account_id == "123456789012"
    assert addresses.repository_uri(settings, "123456789012", "x1", "127.0.0.1:5000") == "localhost:5000/x1"


def test_served_regions() -> None:
    assert Settings().regions == {"us-east-1"}
    assert Settings(region="eu-west-1", served_regions=("us-west-2",)).regions == {"eu-west-1", "us-west-2"}


def test_a_token_is_good_in_the_regions_it_was_issued_for_only() -> None:
    signer = TokenSigner.from_secret(TokenSigner.generate_key(), 3600)
    principal = Principal("000000000000", "AIDAX", "root", is_root=True)
    token = signer.issue(principal, region="us-west-2").token
    for attempt in range(2):  # the second time from the verified-token cache
        with pytest.raises(TokenInvalid, match="issued in us-west-2, which this registry does not serve"):
            signer.verify(token, regions={"us-east-1"})
        assert signer.verify(token, regions={"us-east-1", "us-west-2"}) == principal, attempt
    # Tokens issued before regions were recorded are good everywhere.
    legacy = signer.issue(principal).token
    assert signer.verify(legacy, regions={"us-east-1"}) == principal
