"""Authorization on both doors: identity policies, repository/registry policies, cross-account."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import DockerCLI, Registry, run, write_scratch_context
from tests.integration.ecrtools import ecr_client, error_code, error_message

pytestmark = pytest.mark.integration
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _new_account(registry: Registry) -> str:
    account = "".join(random.choice("0123456789") for _ in range(12))
    registry.cli("account", "create", account)
    return account


def _keys(registry: Registry, account: str | None, user: str) -> tuple[str, str]:
    args = ["key", "create", "--user", user] + (["--account-id", account] if account else [])
    out = registry.cli(*args).stdout
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def _root_client(registry: Registry, account: str) -> Any:
    akid, secret = _keys(registry, account, "root")
    return ecr_client(registry, access_key_id=akid, secret_access_key=secret)


def _user(
    registry: Registry,
    account: str | None,
    *,
    managed: str | None = None,
    policy: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """A new user with the given policy; returns (its name, an ECR client signing as it)."""
    name = f"u-{_uid()}"
    where = ["--account-id", account] if account else []
    registry.cli("user", "create", name, *where)
    if managed:
        registry.cli("iam", "attach-policy", "--user", name, "--managed", managed, *where)
    if policy is not None:
        path = registry.data_dir / f"policy-{name}.json"
        path.write_text(json.dumps(policy))
        registry.cli(
            "iam", "attach-policy", "--user", name, "--policy-file", str(path), "--name", "p", *where
        )
    akid, secret = _keys(registry, account, name)
    return name, ecr_client(registry, access_key_id=akid, secret_access_key=secret)


def _password(ecr: Any) -> str:
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    assert user == "AWS"
    return str(password)


def _v2(registry: Registry, password: str | None, account: str | None = None) -> httpx.Client:
    headers = {"Host": f"{account}.{registry.host}"} if account else {}
    return httpx.Client(
        base_url=registry.url,
        auth=("AWS", password) if password else None,
        headers=headers,
        timeout=60,
        trust_env=False,
    )


def _push(client: httpx.Client, repo: str, tag: str = "v1") -> tuple[int, str]:
    """Push a one-layer image; the status of the first refused step (or 201) and the manifest digest."""
    config, layer = b"{}", f"layer {_uid()}".encode()
    for blob in (config, layer):
        r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": _digest(blob)}, content=blob)
        if r.status_code >= 400:
            return r.status_code, ""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=manifest, headers={"Content-Type": OCI_MANIFEST})
    return r.status_code, _digest(manifest)


def _pull(client: httpx.Client, repo: str, tag: str = "v1") -> int:
    r = client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    if r.status_code != 200:
        return r.status_code
    layer = r.json()["layers"][0]["digest"]
    return client.get(f"/v2/{repo}/blobs/{layer}").status_code


def _root_repo(registry: Registry) -> tuple[Any, str, str]:
    """(root ECR client, account id, a new repository with one image tagged v1)."""
    root = ecr_client(registry)
    name = f"authz/{_uid()}"
    account = root.create_repository(repositoryName=name)["repository"]["registryId"]
    with registry.http() as client:
        status, _ = _push(client, name)
    assert status == 201
    return root, account, name


def test_user_without_policy_is_denied_on_both_doors(registry: Registry) -> None:
    _, account, name = _root_repo(registry)
    _, ecr = _user(registry, None)
    with pytest.raises(ClientError) as err:
        ecr.describe_repositories(repositoryNames=[name])
    assert error_code(err) == "AccessDeniedException"
    arn = f"arn:aws:ecr:us-east-1:{account}:repository/{name}"
    assert f"is not authorized to perform: ecr:DescribeRepositories on resource: {arn}" in error_message(err)
    with pytest.raises(ClientError) as err:
        ecr.get_authorization_token()
    assert error_code(err) == "AccessDeniedException"
    # A user allowed only to log in gets a token, and nothing through /v2/.
    token_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
    }
    _, ecr = _user(registry, None, policy=token_only)
    with _v2(registry, _password(ecr)) as client:
        assert client.get("/v2/").status_code == 200
        r = client.get(f"/v2/{name}/manifests/v1")
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "DENIED"
        assert "ecr:BatchGetImage" in r.json()["errors"][0]["message"]
        assert client.get("/v2/_catalog").json()["repositories"] == []


def test_read_only_pulls_but_cannot_push(registry: Registry) -> None:
    _, account, name = _root_repo(registry)
    user, ecr = _user(registry, None, managed="ReadOnly")
    with _v2(registry, _password(ecr)) as client:
        assert _pull(client, name) == 200
        assert name in client.get("/v2/_catalog").json()["repositories"]
        status, _ = _push(client, name, "v2")
        assert status == 403
    assert ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])["images"]
    with pytest.raises(ClientError) as err:
        ecr.put_image(repositoryName=name, imageManifest="{}", imageTag="x")
    assert error_code(err) == "AccessDeniedException"
    out = registry.cli("iam", "list-policies", "--user", user).stdout
    assert "AmazonEC2ContainerRegistryReadOnly" in out
    arn = f"arn:aws:ecr:us-east-1:{account}"
    sim = registry.cli(
        "iam",
        "simulate",
        "--user",
        user,
        "--action",
        "ecr:PutImage",
        "--resource",
        f"{arn}:repository/{name}",
        check=False,
    )
    assert sim.returncode == 3 and "DENY" in sim.stdout
    sim = registry.cli(
        "iam",
        "simulate",
        "--user",
        user,
        "--action",
        "ecr:BatchGetImage",
        "--resource",
        f"{arn}:repository/{name}",
    )
    assert "ALLOW" in sim.stdout and "AmazonEC2ContainerRegistryReadOnly" in sim.stdout
    registry.cli("iam", "detach-policy", "--user", user, "--managed", "ReadOnly")
    with pytest.raises(ClientError):
        ecr.batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])


def test_public_repository_policy_allows_anonymous_pull_only(registry: Registry) -> None:
    root, _, name = _root_repo(registry)
    _, _, private = _root_repo(registry)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Public",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
    root.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))
    with _v2(registry, None) as anonymous:
        assert _pull(anonymous, name) == 200
        r = anonymous.post(f"/v2/{name}/blobs/uploads/")
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert _pull(anonymous, private) == 401
        assert anonymous.get("/v2/").status_code == 401
        assert anonymous.get("/v2/_catalog").status_code == 401


def test_explicit_deny_in_repository_policy_beats_identity_allow(registry: Registry) -> None:
    root, account, name = _root_repo(registry)
    user, ecr = _user(registry, None, managed="PowerUser")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
                "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload"],
            }
        ],
    }
    root.set_repository_policy(repositoryName=name, policyText=json.dumps(policy))
    with _v2(registry, _password(ecr)) as client:
        assert _pull(client, name) == 200
        status, _ = _push(client, name, "v2")
        assert status == 403
    with pytest.raises(ClientError) as err:
        ecr.put_image(repositoryName=name, imageManifest="{}", imageTag="x")
    assert error_code(err) == "AccessDeniedException"
    assert "explicit deny" in error_message(err)


def test_cross_account_pull_needs_both_policies(registry: Registry) -> None:
    account_a, account_b = _new_account(registry), _new_account(registry)
    root_a = _root_client(registry, account_a)
    name = f"shared/{_uid()}"
    root_a.create_repository(repositoryName=name)
    with _v2(registry, _password(root_a), account_a) as client:
        assert _push(client, name)[0] == 201
    user_b, ecr_b = _user(registry, account_b, managed="ReadOnly")
    token_only = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}],
    }
    _, ecr_b2 = _user(registry, account_b, policy=token_only)
    password_b, password_b2 = _password(ecr_b), _password(ecr_b2)

    # No repository policy yet: B's identity policy alone is not enough.
    with _v2(registry, password_b, account_a) as client:
        assert _pull(client, name) == 403
    with pytest.raises(ClientError) as err:
        ecr_b.batch_get_image(registryId=account_a, repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert error_code(err) == "AccessDeniedException"
    assert "because no resource-based policy allows the ecr:BatchGetImage action" in error_message(err)

    grant = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_b}:root"},
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            }
        ],
    }
    root_a.set_repository_policy(repositoryName=name, policyText=json.dumps(grant))
    with _v2(registry, password_b, account_a) as client:
        assert _pull(client, name) == 200
        assert _push(client, name, "v2")[0] == 403
    got = ecr_b.batch_get_image(registryId=account_a, repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert got["images"][0]["registryId"] == account_a
    # The grant delegates to account B, whose identity policy for this user allows nothing.
    with _v2(registry, password_b2, account_a) as client:
        assert _pull(client, name) == 403
    assert user_b


def test_set_repository_policy_lockout_and_force(registry: Registry) -> None:
    root, account, name = _root_repo(registry)
    user, ecr = _user(registry, None, managed="FullAccess")
    lockout = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": f"arn:aws:iam::{account}:user/{user}"},
                "Action": "ecr:SetRepositoryPolicy",
            }
        ],
    }
    with pytest.raises(ClientError) as err:
        ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(lockout))
    assert error_code(err) == "InvalidParameterException"
    with pytest.raises(ClientError):
        ecr.get_repository_policy(repositoryName=name)
    done = ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(lockout), force=True)
    assert done["repositoryName"] == name and done["registryId"] == account
    with pytest.raises(ClientError) as err:
        ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(lockout), force=True)
    assert error_code(err) == "AccessDeniedException"
    assert json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"]) == lockout
    root.delete_repository_policy(repositoryName=name)


def test_policy_errors_by_name(registry: Registry) -> None:
    root, _, name = _root_repo(registry)
    with pytest.raises(ClientError) as err:
        root.get_repository_policy(repositoryName=name)
    assert error_code(err) == "RepositoryPolicyNotFoundException"
    with pytest.raises(ClientError) as err:
        root.delete_repository_policy(repositoryName=name)
    assert error_code(err) == "RepositoryPolicyNotFoundException"
    with pytest.raises(ClientError) as err:
        root.get_repository_policy(repositoryName=f"{name}-missing")
    assert error_code(err) == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as err:
        root.set_repository_policy(repositoryName=name, policyText='{"Statement": "nope"}')
    assert error_code(err) == "InvalidParameterException"
    assert "Invalid repository policy provided" in error_message(err)

    account = _new_account(registry)
    root_a = _root_client(registry, account)
    for call in (root_a.get_registry_policy, root_a.delete_registry_policy):
        with pytest.raises(ClientError) as err:
            call()
        assert error_code(err) == "RegistryPolicyNotFoundException"
    with pytest.raises(ClientError) as err:
        root_a.put_registry_policy(policyText="not json")
    assert error_code(err) == "InvalidParameterException"
    assert "Invalid registry policy provided" in error_message(err)
    other = _new_account(registry)  # a principal must exist to be named (as AWS checks on save)
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": "ecr:*"}
            ],
        }
    )
    put = root_a.put_registry_policy(policyText=text)
    assert (put["registryId"], put["policyText"]) == (account, text)
    assert root_a.get_registry_policy()["policyText"] == text
    assert root_a.delete_registry_policy()["policyText"] == text
    with pytest.raises(ClientError):
        root_a.get_registry_policy()


# ---------------------------------------------------------------- root, listings, conditions, push


def _deny(action: str | list[str], principal: Any = "*") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "NoWay", "Effect": "Deny", "Principal": principal, "Action": action}],
    }


def _uploads(registry: Registry, name: str) -> int:
    rows = registry.sql(
        "SELECT count(*) FROM uploads u JOIN repositories r ON r.id = u.repository_id "
        f"WHERE r.name = '{name}'"
    )
    return int(rows[0][0])


def test_explicit_deny_in_repository_policy_stops_the_account_root(registry: Registry) -> None:
    root, _, name = _root_repo(registry)
    root.set_repository_policy(repositoryName=name, policyText=json.dumps(_deny("ecr:BatchDeleteImage")))
    with pytest.raises(ClientError) as err:
        root.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert error_code(err) == "AccessDeniedException"
    assert "explicit deny" in error_message(err)
    with registry.http() as client:
        digest = client.head(f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST}).headers[
            "Docker-Content-Digest"
        ]
        r = client.delete(f"/v2/{name}/manifests/{digest}")
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["code"] == "DENIED"
        assert _pull(client, name) == 200  # only what the Deny names is refused
    # Root can always take the policy back (it cannot lock itself out), and then delete.
    root.delete_repository_policy(repositoryName=name)
    done = root.batch_delete_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])
    assert done["imageIds"] and not done["failures"]


def test_denied_pushes_leave_no_trace(registry: Registry) -> None:
    root, _, name = _root_repo(registry)
    before = registry.manifest_digest(name, "v1")
    _, ecr = _user(registry, None, managed="ReadOnly")
    with _v2(registry, _password(ecr)) as client:
        assert client.post(f"/v2/{name}/blobs/uploads/").status_code == 403
        assert _push(client, name, "v1")[0] == 403
    with pytest.raises(ClientError):
        ecr.initiate_layer_upload(repositoryName=name)
    assert _uploads(registry, name) == 0
    # Root too, once the repository policy denies pushing: no session, the tag stays put.
    push = ["ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload"]
    root.set_repository_policy(repositoryName=name, policyText=json.dumps(_deny(push)))
    with registry.http() as client:
        assert client.post(f"/v2/{name}/blobs/uploads/").status_code == 403
        assert _push(client, name, "v1")[0] == 403
    with pytest.raises(ClientError) as err:
        root.initiate_layer_upload(repositoryName=name)
    assert error_code(err) == "AccessDeniedException"
    assert _uploads(registry, name) == 0
    assert registry.manifest_digest(name, "v1") == before
    tags = root.list_images(repositoryName=name)["imageIds"]
    assert [i.get("imageTag") for i in tags] == ["v1"]


def test_listings_show_only_what_the_caller_may_describe(registry: Registry) -> None:
    root, account, seen = _root_repo(registry)
    _, _, hidden = _root_repo(registry)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "ecr:DescribeRepositories",
                "Resource": f"arn:aws:ecr:us-east-1:{account}:repository/{seen}",
            },
        ],
    }
    _, ecr = _user(registry, None, policy=policy)
    names = [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]]
    assert names == [seen]
    paged = ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 1})
    assert [r["repositoryName"] for page in paged for r in page["repositories"]] == [seen]
    with _v2(registry, _password(ecr)) as client:
        assert client.get("/v2/_catalog").json()["repositories"] == [seen]
        assert client.get("/v2/_catalog", params={"n": 1}).json()["repositories"] == [seen]
    # The root user's listing drops a repository whose policy denies it DescribeRepositories.
    root.set_repository_policy(
        repositoryName=hidden, policyText=json.dumps(_deny("ecr:DescribeRepositories"))
    )
    listed = [r["repositoryName"] for r in root.describe_repositories()["repositories"]]
    assert seen in listed and hidden not in listed
    with registry.http() as client:
        catalog = client.get("/v2/_catalog").json()["repositories"]
        assert seen in catalog and hidden not in catalog


def test_conditions_see_source_ip_resource_and_request_tags(registry: Registry) -> None:
    root, account, tagged = _root_repo(registry)
    _, _, untagged = _root_repo(registry)
    root.tag_resource(
        resourceArn=f"arn:aws:ecr:us-east-1:{account}:repository/{tagged}",
        tags=[{"Key": "team", "Value": "a"}],
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                "Resource": "*",
                "Condition": {"StringEquals": {"ecr:ResourceTag/team": "a"}},
            },
            {
                "Effect": "Allow",
                "Action": "ecr:CreateRepository",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/team": "a"}},
            },
            {
                "Effect": "Deny",
                "Action": "ecr:DescribeImages",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}},
            },
            {
                "Effect": "Allow",
                "Action": "ecr:ListImages",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
            },
        ],
    }
    _, ecr = _user(registry, None, policy=policy)
    with _v2(registry, _password(ecr)) as client:
        assert _pull(client, tagged) == 200
        assert _pull(client, untagged) == 403
        assert client.get(f"/v2/{tagged}/tags/list").status_code == 403  # plain http
    assert ecr.batch_get_image(repositoryName=tagged, imageIds=[{"imageTag": "v1"}])["images"]
    with pytest.raises(ClientError):
        ecr.batch_get_image(repositoryName=untagged, imageIds=[{"imageTag": "v1"}])
    with pytest.raises(ClientError) as err:
        ecr.describe_images(repositoryName=tagged)
    assert "explicit deny" in error_message(err)
    new = f"authz/{_uid()}"
    with pytest.raises(ClientError) as err:
        ecr.create_repository(repositoryName=new)
    assert error_code(err) == "AccessDeniedException"
    with pytest.raises(ClientError):
        ecr.create_repository(repositoryName=new, tags=[{"Key": "team", "Value": "b"}])
    made = ecr.create_repository(repositoryName=new, tags=[{"Key": "team", "Value": "a"}])
    assert made["repository"]["repositoryName"] == new


def test_create_on_push_needs_create_repository(registry_create_on_push: Registry) -> None:
    registry = registry_create_on_push
    push = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:InitiateLayerUpload",
                    "ecr:UploadLayerPart",
                    "ecr:CompleteLayerUpload",
                    "ecr:PutImage",
                    "ecr:BatchCheckLayerAvailability",
                ],
                "Resource": "*",
            },
        ],
    }
    _, pusher = _user(registry, None, policy=push)
    name = f"cop/{_uid()}"
    with _v2(registry, _password(pusher)) as client:
        r = client.post(f"/v2/{name}/blobs/uploads/")
        assert r.status_code == 403, r.text
        assert "ecr:CreateRepository" in r.json()["errors"][0]["message"]
        assert _push(client, name)[0] == 403
    with pytest.raises(ClientError) as err:
        pusher.initiate_layer_upload(repositoryName=name)
    assert error_code(err) == "AccessDeniedException"
    assert "ecr:CreateRepository" in error_message(err)
    assert registry.sql(f"SELECT count(*) FROM repositories WHERE name = '{name}'")[0][0] == 0
    creator = json.loads(json.dumps(push))
    creator["Statement"][1]["Action"].append("ecr:CreateRepository")
    _, maker = _user(registry, None, policy=creator)
    with _v2(registry, _password(maker)) as client:
        assert _push(client, name)[0] == 201
    assert registry.sql(f"SELECT count(*) FROM repositories WHERE name = '{name}'")[0][0] == 1


def test_docker_cli_read_only_user_pulls_but_push_is_denied(
    registry: Registry, docker_cli: DockerCLI, repo: str, tmp_path: Path
) -> None:
    _, ecr = _user(registry, None, managed="ReadOnly")
    host = registry.localhost
    image = f"{host}/{repo}"
    ctx = write_scratch_context(tmp_path / "ctx", {"f.txt": _uid().encode()}, dockerfile="Dockerfile")
    docker_cli.run("build", "-t", f"{image}:v1", ctx)
    docker_cli.run("push", f"{image}:v1")  # as the account root (the fixture's login)
    docker_cli.run("rmi", "--force", f"{image}:v1")
    run(
        [docker_cli.docker, "login", "-u", "AWS", "--password-stdin", host],
        env=docker_cli.env,
        input=_password(ecr),
    )
    try:
        docker_cli.run("pull", f"{image}:v1")
        docker_cli.run("tag", f"{image}:v1", f"{image}:v2")
        pushed = docker_cli.run("push", f"{image}:v2", check=False)
        assert pushed.returncode != 0
        assert "denied" in (pushed.stdout + pushed.stderr).lower(), pushed.describe()
    finally:
        docker_cli.login(registry)
        docker_cli.run("rmi", "--force", f"{image}:v1", f"{image}:v2", check=False)
    tags = registry.sql(
        "SELECT count(*) FROM tags t JOIN repositories r ON r.id = t.repository_id "
        f"WHERE r.name = '{repo}' AND t.name = 'v2'"
    )
    assert tags[0][0] == 0
    assert _uploads(registry, repo) == 0
