"""The "would this repository policy lock me out?" check behind SetRepositoryPolicy's ``force``.

ECR refuses a repository policy that would stop the caller from calling SetRepositoryPolicy on
that repository again, unless ``force=true``. What the caller's identity policies allow is not
always known to the API layer, so without them only an *explicit* deny counts (nothing else could
override it); with them, the full evaluation decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dockyard.auth.policy.context import ContextValue
from dockyard.auth.policy.document import PolicyDocument, parse_policy
from dockyard.auth.policy.evaluate import AuthzRequest, NamedPolicy, PolicySet, evaluate_with
from dockyard.auth.principals import Principal

SET_REPOSITORY_POLICY = "ecr:SetRepositoryPolicy"


def lockout_check(
    policy: PolicyDocument | str,
    caller: Principal,
    *,
    repository_arn: str | None = None,
    identity_policies: Sequence[NamedPolicy] | None = None,
    registry_policy: PolicyDocument | None = None,
    context: Mapping[str, ContextValue] | None = None,
) -> bool:
    """True when ``policy``, as the repository's policy, would deny ``caller`` SetRepositoryPolicy.

    ``repository_arn`` lets Resource elements be checked; without it they are ignored (the policy
    is attached to the repository, so its statements are about it anyway) and the repository is
    assumed to be in the caller's account. ``identity_policies=None`` means "unknown": only an
    explicit deny then counts as a lockout.
    """
    document = parse_policy(policy, "resource") if isinstance(policy, str) else policy
    account = (
        repository_arn.split(":")[4]
        if repository_arn and repository_arn.count(":") >= 5
        else caller.account_id
    )
    request = AuthzRequest(
        principal=caller,
        action=SET_REPOSITORY_POLICY,
        resource=repository_arn or "*",
        resource_account=account,
        context=context or {},
    )
    policies = PolicySet(identity=identity_policies or (), resource=document, registry=registry_policy)
    decision = evaluate_with(request, policies, match_any_resource=repository_arn is None)
    if identity_policies is None:
        return decision.reason == "explicit deny"
    return not decision.allowed
