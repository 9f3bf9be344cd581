"""Behind a reverse proxy: the client's address and scheme come from X-Forwarded-For/-Proto only
when the connection comes from a trusted proxy, so `aws:SourceIp` and `aws:SecureTransport`
conditions see the client, and headers a client forges are ignored.

The server trusts 127.0.0.1 only; connections from 127.0.0.2 (also loopback) play a client
reaching the server directly with forged headers."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry, dockyard_server
from tests.integration.ecrtools import ecr_client

pytestmark = pytest.mark.integration
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CLIENT_NET = "203.0.113.0/24"  # where the policy lets pulls come from (TEST-NET-3)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    args = ["--trusted-proxies", "127.0.0.1/32"]
    with dockyard_server(tmp_path_factory.mktemp("proxied"), extra_args=args) as reg:
        yield reg


def _pusher_image(registry: Registry) -> str:
    repo = registry.create_repo(f"proxy/{uuid.uuid4().hex[:8]}")
    with registry.http() as client:
        config = b"{}"
        digest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        assert (
            client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=config).status_code
            == 201
        )
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest, "size": 2},
            "layers": [],
        }
        r = client.put(
            f"/v2/{repo}/manifests/v1", content=json.dumps(manifest), headers={"Content-Type": OCI_MANIFEST}
        )
        assert r.status_code == 201, r.text
    return repo


def _user(registry: Registry, policy: dict[str, Any]) -> tuple[str, str]:
    name = f"px-{uuid.uuid4().hex[:6]}"
    registry.cli("user", "create", name)
    path = registry.data_dir / f"policy-{name}.json"
    path.write_text(json.dumps(policy))
    registry.cli("iam", "attach-policy", "--user", name, "--policy-file", str(path), "--name", "p")
    out = registry.cli("key", "create", "--user", name).stdout
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def _v2(registry: Registry, password: str, source: str) -> httpx.Client:
    return httpx.Client(
        base_url=registry.url,
        auth=("AWS", password),
        trust_env=False,
        timeout=60,
        transport=httpx.HTTPTransport(local_address=source),
    )


def _status(client: httpx.Client, path: str, **headers: str) -> int:
    return client.get(path, headers={"Accept": OCI_MANIFEST, **headers}).status_code


def test_source_ip_and_secure_transport_follow_trusted_proxy_headers(proxied: Registry) -> None:
    repo = _pusher_image(proxied)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:DescribeRepositories"],
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": CLIENT_NET}},
            },
            {
                "Effect": "Allow",
                "Action": "ecr:ListImages",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
        ],
    }
    akid, secret = _user(proxied, policy)
    ecr = ecr_client(proxied, access_key_id=akid, secret_access_key=secret)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    password = base64.b64decode(token).decode().partition(":")[2]
    manifest = f"/v2/{repo}/manifests/v1"
    with _v2(proxied, password, "127.0.0.1") as proxy:  # the trusted proxy
        assert _status(proxy, manifest) == 403  # the proxy's own address
        assert _status(proxy, manifest, **{"X-Forwarded-For": "203.0.113.7"}) == 200
        assert _status(proxy, manifest, Forwarded='for="203.0.113.7:4711";proto=https') == 200
        # A client's own X-Forwarded-For is kept left of the one the proxy appends: the right-most
        # untrusted hop is the client.
        assert _status(proxy, manifest, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}) == 403
        assert _status(proxy, manifest, **{"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}) == 200
        assert _status(proxy, manifest, **{"X-Forwarded-For": "not-an-address"}) == 403
        tags = f"/v2/{repo}/tags/list"
        assert _status(proxy, tags) == 403
        assert _status(proxy, tags, **{"X-Forwarded-Proto": "https"}) == 200
        challenge = proxy.get("/v2/", auth=None, headers={"X-Forwarded-Proto": "https"})
        assert 'realm="https://' in challenge.headers["www-authenticate"]
    with _v2(proxied, password, "127.0.0.2") as direct:  # not a trusted proxy: headers ignored
        assert _status(direct, manifest, **{"X-Forwarded-For": "203.0.113.7"}) == 403
        assert _status(direct, manifest, Forwarded="for=203.0.113.7") == 403
        assert _status(direct, f"/v2/{repo}/tags/list", **{"X-Forwarded-Proto": "https"}) == 403

    # The ECR door follows the same origin (the header is added after signing, as a proxy does).
    def forwarded_for(address: str) -> Any:
        def add(request: Any, **_: Any) -> None:
            request.headers["X-Forwarded-For"] = address

        return add

    allowed = ecr_client(proxied, access_key_id=akid, secret_access_key=secret)
    allowed.meta.events.register("before-send.ecr", forwarded_for("203.0.113.8"))
    assert allowed.describe_repositories(repositoryNames=[repo])["repositories"]
    refused = ecr_client(proxied, access_key_id=akid, secret_access_key=secret)
    refused.meta.events.register("before-send.ecr", forwarded_for("192.0.2.1"))
    with pytest.raises(ClientError) as err:
        refused.describe_repositories(repositoryNames=[repo])
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
