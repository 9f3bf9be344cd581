"""Image indexes and referrers: images that ECR ties to other images."""

from __future__ import annotations

from dockyard.features.lifecycle import ImageInfo, evaluate, explain
from tests.unit.lifecycle.lifecycle_testlib import NOW, image, policy, rule


def index_with_children(name: str, tags: list[str], pushed: float) -> list[ImageInfo]:
    """An index plus two untagged children pushed just before it (as buildx does)."""
    kids = (f"{name}-amd64", f"{name}-arm64")
    return [
        image(kids[0], pushed=pushed + 0.01, is_index_child=True),
        image(kids[1], pushed=pushed + 0.01, is_index_child=True),
        image(name, tags, pushed=pushed, child_digests=kids),
    ]


def test_children_are_not_counted_or_expired_by_count_rules() -> None:
    """DefangLabs/pulumi-defang#466: the oldest images (children) survived a count rule."""
    images = [*index_with_children("idx", ["latest"], pushed=1), image("u1", pushed=3), image("u2", pushed=2)]
    p = policy(rule(1, "any", count_number=2))
    # ranked without children: idx, u2, u1 -> u1 expires; children are neither counted nor marked
    assert [o.digest for o in evaluate(p, images, NOW)] == ["u1"]


def test_untagged_rules_do_not_sweep_children() -> None:
    images = index_with_children("idx", ["v1"], pushed=100)
    p = policy(rule(1, "untagged", "sinceImagePushed", 1))
    assert evaluate(p, images, NOW) == []
    kept = {e.digest: e for e in explain(p, images, NOW)}
    assert kept["idx-amd64"].verdict == "KEEP"
    assert "index child" in kept["idx-amd64"].reasons[0]


def test_children_go_with_their_expired_index() -> None:
    images = [*index_with_children("old", ["v1"], pushed=10), *index_with_children("new", ["v2"], pushed=1)]
    p = policy(rule(1, "tagged", tagPatternList=["v*"]))
    outcomes = evaluate(p, images, NOW)
    assert sorted(o.digest for o in outcomes) == ["old", "old-amd64", "old-arm64"]
    assert {o.rule_priority for o in outcomes} == {1}
    assert all(o.action == "EXPIRE" for o in outcomes)


def test_a_child_shared_with_a_surviving_index_stays() -> None:
    shared = image("shared", pushed=11, is_index_child=True)
    old = image("old", ["v1"], pushed=10, child_digests=("shared",))
    new = image("new", ["v2"], pushed=1, child_digests=("shared",))
    p = policy(rule(1, "tagged", tagPatternList=["v*"]))
    assert [o.digest for o in evaluate(p, [shared, old, new], NOW)] == ["old"]


def test_referrers_are_expired_with_their_subject() -> None:
    subject = image("app", ["v1"], pushed=30)
    signature = image("sig", pushed=29, subject_digest="app")
    sbom = image("sbom", pushed=28.5, subject_digest="app")
    sbom_signature = image("sbom-sig", pushed=28, subject_digest="sbom")
    other = image("other", ["v2"], pushed=1)
    p = policy(rule(1, "tagged", "sinceImagePushed", 14, tagPrefixList=["v"]))
    outcomes = evaluate(p, [subject, signature, sbom, sbom_signature, other], NOW)
    assert [(o.digest, o.rule_priority) for o in outcomes] == [
        ("app", 1),
        ("sig", 1),
        ("sbom", 1),
        ("sbom-sig", 1),
    ]
    why = {e.digest: e.reasons[0] for e in explain(p, [subject, signature, sbom, sbom_signature], NOW)}
    assert why["sig"].startswith("expired with its subject app")
    assert why["sbom-sig"].startswith("expired with its subject sbom")


def test_referrers_of_kept_subjects_are_ordinary_untagged_images() -> None:
    subject = image("app", ["v1"], pushed=30)
    signature = image("sig", pushed=29, subject_digest="app")
    p = policy(rule(1, "untagged", "sinceImagePushed", 7))
    assert [o.digest for o in evaluate(p, [subject, signature], NOW)] == ["sig"]


def test_referrers_of_an_index_child_go_when_the_index_goes() -> None:
    images = [
        *index_with_children("idx", ["v1"], pushed=50),
        image("att", pushed=49, subject_digest="idx-amd64"),
        image("keep", ["v2"], pushed=1),
    ]
    p = policy(rule(1, "tagged", tagPrefixList=["v"]))
    assert sorted(o.digest for o in evaluate(p, images, NOW)) == ["att", "idx", "idx-amd64", "idx-arm64"]
