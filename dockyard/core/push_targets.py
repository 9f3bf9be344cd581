"""Where a push lands: the named repository, or one created on the spot for it.

Both doors push (`/v2/` PUT and ECR's upload actions), so the rule lives here once: a missing
repository is created when a repository creation template with CREATE_ON_PUSH covers its name
(with the template's settings), or when the server runs with --create-on-push (with defaults).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from dockyard.core.errors import RepositoryAlreadyExists, RepositoryNotFound
from dockyard.core.repositories import Repository, RepositoryService, default_kms_key
from dockyard.core.templates import CREATE_ON_PUSH, TemplateService


class PushTargets:
    def __init__(
        self,
        repositories: RepositoryService,
        templates: TemplateService,
        *,
        create_on_push: bool,
        region: str,
        repository_policy_set: Callable[[str, str], Awaitable[None]],
    ) -> None:
        """``repository_policy_set(account_id, name)`` runs after a template gave a new repository
        a policy, so caches of "no policy" (the authorizer's) do not outlive it."""
        self.repositories = repositories
        self.templates = templates
        self.create_on_push = create_on_push
        self.region = region
        self.repository_policy_set = repository_policy_set

    async def repository_for_push(
        self,
        account_id: str,
        name: str,
        authorize_create: Callable[[], Awaitable[None]] | None = None,
    ) -> Repository:
        """The target of a push, created if a template or --create-on-push allows it. Before
        creating, ``authorize_create`` (the door's ``ecr:CreateRepository`` check) runs and may
        raise to refuse."""
        try:
            return await self.repositories.get(account_id, name)
        except RepositoryNotFound as e:
            template = await self.templates.match(account_id, name, CREATE_ON_PUSH)
            if template is None and not self.create_on_push:
                e.message += (
                    f". Create it first (`aws ecr create-repository --repository-name {name}` or "
                    f"`dockyard repo create {name}`), add a repository creation template with "
                    "CREATE_ON_PUSH, or start the server with --create-on-push."
                )
                raise
        if authorize_create is not None:
            await authorize_create()
        try:
            if template is None:
                return await self.repositories.create(account_id, name)
            created = await self.repositories.create(
                account_id,
                name,
                tag_mutability=template.image_tag_mutability,
                tag_mutability_exclusions=template.exclusions,
                encryption_type=template.encryption_type,
                kms_key=(
                    None
                    if template.encryption_type == "AES256"
                    else template.kms_key or default_kms_key(account_id, self.region)
                ),
                resource_tags=template.resource_tags,
                policy=template.repository_policy,
                lifecycle_policy=template.lifecycle_policy,
            )
        except RepositoryAlreadyExists:
            return await self.repositories.get(account_id, name)  # created concurrently
        if template.repository_policy:
            await self.repository_policy_set(account_id, name)
        return created
