"""IAM groups: a group's policies apply to its members, and stop applying when they leave."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.clients import Registry
from tests.integration.ecrtools import ecr_client

pytestmark = pytest.mark.integration


def _uid() -> str:
    return uuid.uuid4().hex[:8]


def _keys(registry: Registry, user: str) -> tuple[str, str]:
    out = registry.cli("key", "create", "--user", user).stdout
    values = dict(
        line.split(" = ", 1) for line in out.splitlines() if " = " in line and not line.startswith("#")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def _denied(ecr: Any, name: str) -> None:
    with pytest.raises(ClientError) as err:
        ecr.create_repository(repositoryName=name)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_group_policy_grants_and_membership_revokes(registry: Registry) -> None:
    user, group = f"u-{_uid()}", f"g-{_uid()}"
    registry.cli("user", "create", user)
    akid, secret = _keys(registry, user)
    ecr = ecr_client(registry, access_key_id=akid, secret_access_key=secret)

    _denied(ecr, f"groups/{_uid()}")

    registry.cli("iam", "create-group", group)
    registry.cli("iam", "attach-policy", "--group", group, "--managed", "FullAccess")
    assert registry.cli("iam", "list-policies", "--group", group).stdout.split() == [
        "AmazonEC2ContainerRegistryFullAccess"
    ]
    registry.cli("iam", "add-user-to-group", "--group", group, "--user", user)
    assert group in registry.cli("iam", "list-groups", "--user", user).stdout.split()
    assert registry.cli("iam", "list-policies", "--user", user).stdout.split() == []

    name = f"groups/{_uid()}"
    ecr.create_repository(repositoryName=name)

    registry.cli("iam", "remove-user-from-group", "--group", group, "--user", user)
    assert group not in registry.cli("iam", "list-groups", "--user", user).stdout.split()
    _denied(ecr, f"groups/{_uid()}")

    registry.cli("iam", "detach-policy", "--group", group, "--managed", "FullAccess")
    assert registry.cli("iam", "list-policies", "--group", group).stdout.split() == []


def test_group_errors(registry: Registry) -> None:
    user, group = f"u-{_uid()}", f"g-{_uid()}"
    registry.cli("user", "create", user)
    registry.cli("iam", "create-group", group)

    dup = registry.cli("iam", "create-group", group, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    for args in (
        ("add-user-to-group", "--group", "nope", "--user", user),
        ("add-user-to-group", "--group", group, "--user", "nope"),
        ("remove-user-from-group", "--group", group, "--user", user),
        ("attach-policy", "--group", "nope", "--managed", "ReadOnly"),
        ("list-groups", "--user", "nope"),
    ):
        result = registry.cli("iam", *args, check=False)
        assert result.returncode == 1, args
        assert "error:" in result.stderr, args
    both = registry.cli("iam", "list-policies", "--user", user, "--group", group, check=False)
    assert both.returncode != 0 and "exactly one of --user and --group" in both.stderr
    neither = registry.cli("iam", "list-policies", check=False)
    assert neither.returncode != 0 and "exactly one of --user and --group" in neither.stderr
