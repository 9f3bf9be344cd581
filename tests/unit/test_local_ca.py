"""`dockyard tls init`'s certificates: a CA made once, server certificates clients verify."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from dockyard import local_ca


def verify(directory: Path, name: x509.GeneralName) -> None:
    store = Store([x509.load_pem_x509_certificate((directory / local_ca.CA_CERT).read_bytes())])
    leaf, *chain = x509.load_pem_x509_certificates((directory / local_ca.SERVER_CERT).read_bytes())
    verifier = PolicyBuilder().store(store).build_server_verifier(name)
    verifier.verify(leaf, chain)


def test_issue_makes_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    issued = local_ca.issue(tmp_path / "tls", ["registry.example.com", "127.0.0.1", "::1"])
    assert issued.new_ca
    for name in (local_ca.CA_KEY, local_ca.SERVER_KEY):
        assert stat.S_IMODE((issued.directory / name).stat().st_mode) == 0o600
    verify(issued.directory, x509.DNSName("registry.example.com"))
    verify(issued.directory, x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    verify(issued.directory, x509.IPAddress(ipaddress.ip_address("::1")))
    with pytest.raises(VerificationError):
        verify(issued.directory, x509.DNSName("other.example.com"))
    # Only ca.crt has a suffix containers' cert dirs give meaning to (*.crt, *.cert, *.key).
    names = {p.name for p in issued.directory.iterdir()}
    assert [n for n in names if n.endswith((".crt", ".cert", ".key"))] == ["ca.crt"]


def test_issuing_again_keeps_the_ca(tmp_path: Path) -> None:
    first = local_ca.issue(tmp_path, ["a.example"])
    ca = (tmp_path / local_ca.CA_CERT).read_bytes()
    server = (tmp_path / local_ca.SERVER_CERT).read_bytes()
    again = local_ca.issue(tmp_path, ["a.example", "b.example"])
    assert first.new_ca and not again.new_ca
    assert (tmp_path / local_ca.CA_CERT).read_bytes() == ca
    assert (tmp_path / local_ca.SERVER_CERT).read_bytes() != server
    verify(tmp_path, x509.DNSName("b.example"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_server_certificate_lifetime(tmp_path: Path) -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    local_ca.issue(tmp_path, ["a.example"], now=now)
    leaf = x509.load_pem_x509_certificates((tmp_path / local_ca.SERVER_CERT).read_bytes())[0]
    assert leaf.not_valid_after_utc - now == datetime.timedelta(days=local_ca.SERVER_DAYS)


@pytest.mark.parametrize("hosts", [[], ["bad host"], ["http://x"], [""]])
def test_refuses_unusable_names(tmp_path: Path, hosts: list[str]) -> None:
    with pytest.raises(ValueError):
        local_ca.issue(tmp_path, hosts)
