"""OCI Distribution Spec v1.1 — "Listing Tags" (end-8a/end-8b) and the /v2/_catalog extension.

The spec allows either lexical (case-insensitive) or ASCIIbetical order.  Pagination tests use
lowercase tags, for which both orders agree.  Page sizes follow CNCF Distribution: a page holds
exactly ``n`` entries while more remain, and the next page is announced by a Link header.
"""

from __future__ import annotations

import pytest

from tests.integration import ocitools as t

pytestmark = pytest.mark.integration

TAGS = ["1.0", "1.1", "10", "2", "alpha", "beta", "latest", "v-1_0"]


@pytest.fixture(scope="module")
def tagged(oci):
    repo = oci.new_repo("tags")
    img = t.make_image(layers=1)
    oci.push_image(repo, img)
    for tag in reversed(TAGS):
        t.expect(oci.put_manifest(repo, tag, img.body, img.media_type), 201, f"tag {tag}")
    return repo, sorted(TAGS)


def _tags(oci, repo, **params):
    r = oci.request("GET", f"/v2/{repo}/tags/list", params=params or None)
    t.expect(r, 200, "GET tags/list (end-8a/8b)")
    body = r.json()
    assert body.get("name") == repo, t.describe(r)
    assert isinstance(body.get("tags"), list), "tags must be a JSON list" + t.describe(r)
    return r, body["tags"]


def _check_next_link(r, expected_path, n, last):
    target = t.parse_link_next(r.headers.get("Link"))
    assert target, 'expected a Link header with rel="next"' + t.describe(r)
    path, query = t.split_url(target)
    assert path == expected_path, f"Link path {path!r}" + t.describe(r)
    assert query.get("n") == [str(n)], f"Link must keep n={n}" + t.describe(r)
    assert query.get("last") == [last], f"Link must continue after {last!r}" + t.describe(r)
    return target


def test_tags_list_sorted(oci, tagged):
    repo, want = tagged
    _r, tags = _tags(oci, repo)
    assert tags == want, f"tags must be sorted: {tags}"


def test_tags_list_mixed_case_order(oci):
    repo = oci.new_repo("tags")
    img = t.make_image(layers=1)
    oci.push_image(repo, img)
    names = ["b", "B", "a", "A", "_u", "Z9", "z1"]
    for tag in names:
        t.expect(oci.put_manifest(repo, tag, img.body, img.media_type), 201)
    _r, tags = _tags(oci, repo)
    asciibetical = sorted(names)
    lexical = sorted(names, key=lambda s: (s.lower(), s))
    assert tags in (asciibetical, lexical), f"tags must be lexical or ASCIIbetical, got {tags}"


def test_tags_pagination_with_link(oci, tagged):
    repo, want = tagged
    r, page = _tags(oci, repo, n=2)
    assert page == want[:2], r.text
    target = _check_next_link(r, f"/v2/{repo}/tags/list", 2, want[1])
    collected = list(page)
    for _ in range(20):
        if target is None:
            break
        r = t.expect(oci.request("GET", target), 200, "follow Link")
        page = r.json()["tags"]
        assert len(page) <= 2, r.text
        if page and t.parse_link_next(r.headers.get("Link")):
            assert len(page) == 2, "a page must hold n entries while more remain" + t.describe(r)
            _check_next_link(r, f"/v2/{repo}/tags/list", 2, page[-1])
        collected += page
        target = t.parse_link_next(r.headers.get("Link"))
    assert collected == want, f"paginated walk returned {collected}"


def test_last_page_has_no_link(oci, tagged):
    repo, want = tagged
    r, page = _tags(oci, repo, n=3, last=want[-3])
    assert page == want[-2:], r.text
    assert t.parse_link_next(r.headers.get("Link")) is None, "no Link when nothing follows" + t.describe(r)
    r, page = _tags(oci, repo, n=len(want) + 5)
    assert page == want
    assert "Link" not in r.headers, t.describe(r)


def test_tags_last_continues(oci, tagged):
    repo, want = tagged
    _r, page = _tags(oci, repo, last=want[2])
    assert page == want[3:], "last= returns the tags after <last>, non-inclusively"
    _r, page = _tags(oci, repo, n=2, last=want[2])
    assert page == want[3:5]
    _r, page = _tags(oci, repo, last=want[-1])
    assert page == []
    # a `last` that is not itself a tag still works lexically
    _r, page = _tags(oci, repo, last="b")
    assert page == [x for x in want if x > "b"]


def test_tags_n_zero(oci, tagged):
    repo, _want = tagged
    r, page = _tags(oci, repo, n=0)
    assert page == [], "n=0 MUST return an empty list"
    assert "Link" not in r.headers, "n=0 MUST NOT include a Link header" + t.describe(r)


def test_tags_of_empty_repository(oci):
    repo = oci.new_repo("tags")
    _r, tags = _tags(oci, repo)
    assert tags == []


def test_tags_of_unknown_repository(oci):
    r = oci.request("GET", f"/v2/{t.unique('missing')}/tags/list")
    t.expect_error(r, 404, "NAME_UNKNOWN", "tags/list of unknown repository (end-8a 404)")


def test_deleted_tag_disappears_from_list(oci):
    repo = oci.new_repo("tags")
    img = t.make_image(layers=1)
    oci.push_image(repo, img, "keep")
    t.expect(oci.put_manifest(repo, "drop", img.body, img.media_type), 201)
    t.expect(oci.request("DELETE", f"/v2/{repo}/manifests/drop"), 202)
    _r, tags = _tags(oci, repo)
    assert tags == ["keep"]


# ------------------------------------------------------------------------------------------------
# Catalog
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_repos(oci):
    prefix = t.unique("cat")
    names = sorted(f"{prefix}-{x}" for x in ("a", "b", "c", "d", "e"))
    for name in names:
        oci.registry.create_repo(name)
    return names


def _catalog(oci, **params):
    r = oci.request("GET", "/v2/_catalog", params=params or None)
    t.expect(r, 200, "GET /v2/_catalog")
    body = r.json()
    assert isinstance(body.get("repositories"), list), t.describe(r)
    return r, body["repositories"]


def test_catalog_lists_repositories_sorted(oci, catalog_repos):
    _r, repos = _catalog(oci)
    assert repos == sorted(repos), f"catalog must be sorted: {repos}"
    assert len(repos) == len(set(repos)), "duplicates in catalog"
    for name in catalog_repos:
        assert name in repos


def test_catalog_pagination(oci, catalog_repos):
    r, page = _catalog(oci, n=2)
    assert len(page) == 2, t.describe(r)
    target = t.parse_link_next(r.headers.get("Link"))
    assert target, 'expected Link rel="next"' + t.describe(r)
    path, query = t.split_url(target)
    assert path == "/v2/_catalog" and query.get("n") == ["2"] and query.get("last") == [page[-1]], t.describe(
        r
    )
    collected = list(page)
    for _ in range(10_000):
        if target is None:
            break
        r = t.expect(oci.request("GET", target), 200, "follow catalog Link")
        page = r.json()["repositories"]
        assert len(page) <= 2, t.describe(r)
        collected += page
        target = t.parse_link_next(r.headers.get("Link"))
    assert collected == sorted(collected), "paginated catalog out of order"
    assert len(collected) == len(set(collected)), "paginated catalog has duplicates"
    for name in catalog_repos:
        assert name in collected


def test_catalog_last_continues(oci, catalog_repos):
    _r, page = _catalog(oci, n=2, last=catalog_repos[1])
    assert page == catalog_repos[2:4], page
    _r, page = _catalog(oci, last=catalog_repos[3])
    assert catalog_repos[4] in page and catalog_repos[3] not in page and catalog_repos[0] not in page


def test_catalog_n_zero(oci, catalog_repos):
    r, page = _catalog(oci, n=0)
    assert page == []
    assert "Link" not in r.headers, t.describe(r)
