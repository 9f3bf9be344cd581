"""IAM policy language for Dockyard: parse, validate and evaluate policies as AWS does.

Pure Python and free of I/O so the ECR API, the /v2 registry and ``dockyard iam simulate`` can
all share one implementation of the rules.
"""

from __future__ import annotations

from dockyard.auth.policy.context import ContextScalar, ContextValue, RequestContext
from dockyard.auth.policy.document import (
    ConditionClause,
    Effect,
    PolicyDocument,
    PolicyKind,
    PrincipalSpec,
    Statement,
    parse_policy,
)
from dockyard.auth.policy.errors import POLICY_MAX_LENGTH, PolicyError, ecr_invalid_policy_message
from dockyard.auth.policy.evaluate import (
    REGISTRY_POLICY_NAME,
    REPOSITORY_POLICY_NAME,
    AuthzRequest,
    Decision,
    NamedPolicy,
    PolicySet,
    Reason,
    StatementRef,
    evaluate,
    request_context,
)
from dockyard.auth.policy.lockout import lockout_check
from dockyard.auth.policy.managed import MANAGED_POLICIES, managed_policy, managed_policy_arn

__all__ = [
    "MANAGED_POLICIES",
    "POLICY_MAX_LENGTH",
    "REGISTRY_POLICY_NAME",
    "REPOSITORY_POLICY_NAME",
    "AuthzRequest",
    "ConditionClause",
    "ContextScalar",
    "ContextValue",
    "Decision",
    "Effect",
    "NamedPolicy",
    "PolicyDocument",
    "PolicyError",
    "PolicyKind",
    "PolicySet",
    "PrincipalSpec",
    "Reason",
    "RequestContext",
    "Statement",
    "StatementRef",
    "ecr_invalid_policy_message",
    "evaluate",
    "lockout_check",
    "managed_policy",
    "managed_policy_arn",
    "parse_policy",
    "request_context",
]
