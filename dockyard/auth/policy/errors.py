"""Errors raised while parsing policy documents, and the text ECR answers with.

Parsing raises :class:`PolicyError` with a precise message (which element, what is wrong) so
logs and the CLI can tell an operator exactly what to fix; the ECR API layer, which has to answer
the way AWS does, turns it into ECR's deliberately vague ``InvalidParameterException`` text with
:func:`ecr_invalid_policy_message`.
"""

from __future__ import annotations

from typing import Literal

POLICY_MAX_LENGTH = 10_240
"""ECR's limit on ``policyText`` (SetRepositoryPolicy / PutRegistryPolicy), in characters."""


class PolicyError(ValueError):
    """A policy document that IAM/ECR would refuse.

    ``path`` names the offending element (``Statement[1].Effect``) or is empty for document-level
    problems; ``problem`` is the bare complaint. ``str(err)`` is the full message.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        where = f"{path} " if path else ""
        super().__init__(f"Invalid policy document: {where}{problem}")

    @property
    def message(self) -> str:
        return str(self)


def ecr_invalid_policy_message(target: Literal["repository", "registry"] = "repository") -> str:
    """The message ECR puts in ``InvalidParameterException`` for a policy it rejects.

    ECR never says what is wrong with the document; clients (and tests written against AWS)
    match on this exact text, so the API layer should send it rather than our detailed one.
    """
    return (
        f"Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid {target} policy provided'"
    )
