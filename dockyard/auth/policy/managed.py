"""Identity policies equivalent to AWS's managed ECR policies.

Operators coming from AWS think in these names, so Dockyard ships them verbatim (action lists as
AWS publishes them in the managed-policy reference) instead of inventing its own roles.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from dockyard.auth.policy.document import PolicyDocument, parse_policy

READ_ONLY_ACTIONS: tuple[str, ...] = (
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetRepositoryPolicy",
    "ecr:DescribeRepositories",
    "ecr:ListImages",
    "ecr:DescribeImages",
    "ecr:BatchGetImage",
    "ecr:GetLifecyclePolicy",
    "ecr:GetLifecyclePolicyPreview",
    "ecr:ListTagsForResource",
    "ecr:DescribeImageScanFindings",
)

POWER_USER_ACTIONS: tuple[str, ...] = (
    *READ_ONLY_ACTIONS,
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
)


def _text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=4)


AMAZON_EC2_CONTAINER_REGISTRY_READ_ONLY = _text(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(READ_ONLY_ACTIONS), "Resource": "*"}],
    }
)

AMAZON_EC2_CONTAINER_REGISTRY_POWER_USER = _text(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": list(POWER_USER_ACTIONS), "Resource": "*"}],
    }
)

AMAZON_EC2_CONTAINER_REGISTRY_FULL_ACCESS = _text(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["ecr:*", "cloudtrail:LookupEvents"], "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:AWSServiceName": ["replication.ecr.amazonaws.com"]}},
            },
        ],
    }
)

MANAGED_POLICIES: dict[str, str] = {
    "AmazonEC2ContainerRegistryReadOnly": AMAZON_EC2_CONTAINER_REGISTRY_READ_ONLY,
    "AmazonEC2ContainerRegistryPowerUser": AMAZON_EC2_CONTAINER_REGISTRY_POWER_USER,
    "AmazonEC2ContainerRegistryFullAccess": AMAZON_EC2_CONTAINER_REGISTRY_FULL_ACCESS,
}
"""Policy name → policy JSON text."""


def managed_policy_arn(name: str) -> str:
    return f"arn:aws:iam::aws:policy/{name}"


@cache
def managed_policy(name: str) -> PolicyDocument:
    """The parsed identity policy for a managed policy name (``KeyError`` if unknown)."""
    return parse_policy(MANAGED_POLICIES[name], "identity")
