"""The one authorization entry point and the one request-context builder (real SQLite database)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from dockyard import clock
from dockyard.auth.authorize import AccessDenied, Resource, authorize
from dockyard.auth.authorizer import Authorizer
from dockyard.auth.principals import Principal
from dockyard.auth.request_context import RequestOrigin, request_context
from dockyard.config import Settings
from dockyard.registry import Registry

PULL = "ecr:BatchGetImage"
DENY_PULL = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "ecr:BatchGetImage"}],
    }
)


def test_origin_from_an_asgi_scope() -> None:
    assert RequestOrigin.from_asgi({"client": ("10.1.2.3", 5000), "scheme": "https"}) == RequestOrigin(
        "10.1.2.3", "https"
    )
    assert RequestOrigin.from_asgi({"client": None}) == RequestOrigin(None, "http")


def test_context_keys_and_the_injectable_clock() -> None:
    context = request_context(RequestOrigin("10.1.2.3", "https"), {"team": "a"})
    assert context["aws:SourceIp"] == "10.1.2.3"
    assert context["aws:SecureTransport"] is True
    assert context["aws:RequestTag/team"] == "a"
    assert context["aws:TagKeys"] == ["team"]
    plain = request_context(RequestOrigin())
    assert "aws:SourceIp" not in plain and "aws:TagKeys" not in plain
    assert plain["aws:SecureTransport"] is False
    clock.set_offset(86400)
    try:
        shifted = request_context(RequestOrigin())["aws:CurrentTime"]
        assert isinstance(shifted, type(clock.now()))
        assert abs(shifted - clock.now()) < timedelta(seconds=5)
        assert shifted - plain["aws:CurrentTime"] > timedelta(hours=23)  # type: ignore[operator]
    finally:
        clock.set_offset(0)


def test_one_entry_point_decides_and_words_the_refusal(tmp_path: Path) -> None:
    async def main() -> None:
        registry = Registry.build(Settings(data_dir=tmp_path))
        await registry.start()
        try:
            account, region = registry.settings.account_id, registry.settings.region
            await registry.repositories.create(account, "open")
            await registry.repositories.create(account, "locked", policy=DENY_PULL)
            authorizer = Authorizer(registry.db)
            context = request_context(RequestOrigin("127.0.0.1"))
            root = Principal(account, account, "root", is_root=True)
            alice = await registry.identity.create_user(account, "alice")
            open_repo = Resource.repository_in(account, region, "open")
            locked = Resource.repository_in(account, region, "locked")
            assert Resource.repository_in(account, region, "*").repository is None

            assert (await authorize(authorizer, root, "ecr:BatchGetImage", open_repo, context)).allowed
            with pytest.raises(AccessDenied) as denied:
                await authorize(authorizer, root, "ecr:BatchGetImage", locked, context)
            assert denied.value.reason == "with an explicit deny in a resource-based policy"
            assert denied.value.message == (
                f"User: {root.arn} is not authorized to perform: ecr:BatchGetImage on resource: "
                f"{locked.arn} with an explicit deny in a resource-based policy"
            )
            with pytest.raises(AccessDenied) as denied:
                await authorize(authorizer, alice, "ecr:BatchGetImage", open_repo, context)
            assert denied.value.reason == f"because no identity-based policy allows the {PULL} action"
            with pytest.raises(AccessDenied) as denied:
                await authorize(authorizer, None, "ecr:BatchGetImage", open_repo, context)
            assert denied.value.message.startswith("User: anonymous is not authorized")
            assert denied.value.reason == f"because no resource-based policy allows the {PULL} action"
        finally:
            await registry.close()

    asyncio.run(main())
