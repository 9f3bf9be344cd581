"""Which registry policies REGISTRY_POLICY_SCOPE=V1 refuses when they are saved."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.auth.policy_admission import outside_v1_scope
from tests.unit.policy.policy_testlib import policy


def _statement(**action: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, **action}


@pytest.mark.parametrize(
    ("action", "outside"),
    [
        ({"Action": ["ecr:ReplicateImage", "ecr:CreateRepository"]}, False),
        ({"Action": "ecr:BatchImportUpstreamImage"}, False),
        ({"Action": "ECR:replicateimage"}, False),  # action names are case-insensitive
        ({"Action": "ecr:*"}, False),  # AWS accepts the wildcard (advising against it)
        ({"Action": "ecr:Replicate*"}, False),
        ({"Action": ["ecr:ReplicateImage", "ecr:BatchGetImage"]}, True),
        ({"Action": "ecr:PutImage"}, True),
        ({"Action": "ecr:Batch*Image"}, False),  # covers ecr:BatchImportUpstreamImage
        ({"NotAction": "ecr:PutImage"}, False),
        ({"NotAction": ["ecr:ReplicateImage", "ecr:CreateRepository", "ecr:BatchImportUpstreamImage"]}, True),
    ],
)
def test_v1_scope(action: dict[str, Any], outside: bool) -> None:
    assert outside_v1_scope(policy(_statement(**action))) is outside
