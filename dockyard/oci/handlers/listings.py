"""The `/v2/` base check and the listings: catalog, tags and referrers (with `n`/`last` paging)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dockyard.addresses import repository_arn
from dockyard.core.errors import UploadInvalid
from dockyard.core.manifests import referrers_index
from dockyard.core.media_types import OCI_INDEX
from dockyard.oci.access import context_of
from dockyard.oci.handlers.base import VERSION, Door, Route, account_of


async def base(door: Door, request: Request, route: Route) -> Response:
    return Response(b"{}", headers=VERSION, media_type="application/json")


async def catalog(door: Door, request: Request, route: Route) -> Response:
    n, last = _pagination(request)
    account = account_of(request)
    principal = request.scope.get("dockyard.principal")
    region = door.region
    context = context_of(request)
    want = None if n is None else n + 1
    batch_size = 1000 if want is None else max(want, 1)
    names: list[str] = []
    while want is None or len(names) < want:
        batch = await door.registry.repositories.list_names(account, last, batch_size)
        if not batch:
            break
        allowed = await door.authorizer.visible(
            principal,
            "ecr:DescribeRepositories",
            account,
            batch,
            lambda name: repository_arn(account, region, name),
            context,
        )
        names.extend(name for name in batch if name in allowed)
        if len(batch) < batch_size:
            break
        last = batch[-1]
    if want is not None:
        names = names[:want]
    body, link = _page(names, n, "/v2/_catalog")
    return JSONResponse({"repositories": body}, headers={**VERSION, **link})


async def tags(door: Door, request: Request, route: Route) -> Response:
    n, last = _pagination(request)
    names = await door.registry.manifests.list_tags(
        account_of(request), route.name, last, None if n is None else n + 1
    )
    body, link = _page(names, n, f"/v2/{route.name}/tags/list")
    return JSONResponse({"name": route.name, "tags": body}, headers={**VERSION, **link})


async def referrers(door: Door, request: Request, route: Route) -> Response:
    artifact_type = request.query_params.get("artifactType")
    found = await door.registry.manifests.referrers(account_of(request), route.name, route.arg, artifact_type)
    headers = dict(VERSION)
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    return Response(referrers_index(found), headers=headers, media_type=OCI_INDEX)


def _pagination(request: Request) -> tuple[int | None, str | None]:
    raw_n = request.query_params.get("n")
    n: int | None = None
    if raw_n is not None and raw_n != "":
        if not raw_n.isdigit():
            raise UploadInvalid(f"n must be a non-negative integer, not {raw_n[:20]!r}")
        n = min(int(raw_n), 10000)
    return n, request.query_params.get("last") or None


def _page(items: list[str], n: int | None, path: str) -> tuple[list[str], dict[str, str]]:
    if n == 0:
        return [], {}
    if n is None or len(items) <= n:
        return items, {}
    items = items[:n]
    query = urlencode({"n": n, "last": items[-1]}, quote_via=quote) if items else ""
    return items, {"Link": f'<{path}?{query}>; rel="next"'}
