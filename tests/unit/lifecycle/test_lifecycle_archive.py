"""Archive storage: transitions by pull age and expiry from the archive."""

from __future__ import annotations

from dockyard.features.lifecycle import evaluate, explain
from tests.unit.lifecycle.lifecycle_testlib import NOW, days_ago, image, policy, rule

ARCHIVE_THEN_DELETE = policy(
    rule(1, "any", "sinceImagePulled", 90, "transition"),
    rule(2, "any", "sinceImageTransitioned", 365, storageClass="archive"),
)


def test_archive_by_pull_age_falls_back_to_push_time() -> None:
    images = [
        image("pulled-recently", ["a"], pushed=400, pulled=10),
        image("pulled-long-ago", ["b"], pushed=400, pulled=100),
        image("never-pulled-old", ["c"], pushed=120),
        image("never-pulled-new", ["d"], pushed=30),
    ]
    outcomes = evaluate(ARCHIVE_THEN_DELETE, images, NOW)
    assert [(o.digest, o.action, o.target_storage_class, o.rule_priority) for o in outcomes] == [
        ("pulled-long-ago", "TRANSITION", "ARCHIVE", 1),
        ("never-pulled-old", "TRANSITION", "ARCHIVE", 1),
    ]
    assert all(o.storage_class == "STANDARD" for o in outcomes)


def test_archived_images_are_only_seen_by_archive_rules() -> None:
    images = [
        image("archived-long", ["a"], pushed=900, storage_class="archive", transitioned_at=days_ago(400)),
        image("archived-recent", ["b"], pushed=900, storage_class="archive", transitioned_at=days_ago(100)),
        image("archived-unknown", ["c"], pushed=900, storage_class="archive"),
    ]
    outcomes = evaluate(ARCHIVE_THEN_DELETE, images, NOW)
    assert [(o.digest, o.action, o.storage_class, o.rule_priority) for o in outcomes] == [
        ("archived-long", "EXPIRE", "ARCHIVE", 2)
    ]
    reasons = {e.digest: e.reasons for e in explain(ARCHIVE_THEN_DELETE, images, NOW)}
    assert any("archive time unknown" in r for r in reasons["archived-unknown"])


def test_a_standard_rule_does_not_shield_archived_images() -> None:
    """The standard-class `any` rule must not protect archive-class images from rule 2."""
    images = [image("z", [], pushed=900, storage_class="ARCHIVE", transitioned_at=days_ago(366))]
    assert [o.digest for o in evaluate(ARCHIVE_THEN_DELETE, images, NOW)] == ["z"]


def test_count_based_transition_keeps_the_newest_in_standard() -> None:
    p = policy(rule(1, "tagged", count_number=2, action="transition", tagPatternList=["release-*"]))
    images = [image(f"r{i}", [f"release-{i}"], pushed=10 - i) for i in range(5)]
    outcomes = evaluate(p, images, NOW)
    assert [(o.digest, o.action) for o in outcomes] == [
        ("r0", "TRANSITION"),
        ("r1", "TRANSITION"),
        ("r2", "TRANSITION"),
    ]


def test_an_index_is_archived_with_its_children() -> None:
    images = [
        image("kid", pushed=200, is_index_child=True),
        image("idx", ["v1"], pushed=200, child_digests=("kid",)),
    ]
    p = policy(rule(1, "any", "sinceImagePushed", 100, "transition"))
    assert [(o.digest, o.action) for o in evaluate(p, images, NOW)] == [
        ("idx", "TRANSITION"),
        ("kid", "TRANSITION"),
    ]


def test_referrers_are_not_deleted_when_their_subject_is_only_archived() -> None:
    images = [image("app", ["v"], pushed=200), image("sig", pushed=200, pulled=1, subject_digest="app")]
    p = policy(rule(1, "any", "sinceImagePulled", 90, "transition"))
    assert [(o.digest, o.action) for o in evaluate(p, images, NOW)] == [("app", "TRANSITION")]


def test_archiving_an_index_spares_children_that_must_stay_pullable() -> None:
    """A child tagged itself, or listed by an index that stays active, is not archived with
    the index; one whose other index is already archived follows into the archive."""
    images = [
        image("tagged-kid", ["kid-v1"], pushed=200, is_index_child=True),
        image("shared-kid", pushed=200, is_index_child=True),
        image("archived-kid", pushed=200, is_index_child=True),
        image("own-kid", pushed=200, is_index_child=True),
        image(
            "old",
            ["old"],
            pushed=200,
            child_digests=("archived-kid", "own-kid", "shared-kid", "tagged-kid"),
        ),
        image("new", ["new"], pushed=1, child_digests=("shared-kid",)),
        image("gone", ["gone"], pushed=300, storage_class="archive", child_digests=("archived-kid",)),
    ]
    p = policy(rule(1, "any", "sinceImagePushed", 100, "transition"))
    assert [(o.digest, o.action) for o in evaluate(p, images, NOW)] == [
        ("archived-kid", "TRANSITION"),
        ("old", "TRANSITION"),
        ("own-kid", "TRANSITION"),
    ]


def test_a_child_of_an_archived_index_is_archived_not_expired() -> None:
    """Expiring one index must not delete a child an archived index still lists (a restore
    of that index needs it): the child goes to the archive instead."""
    images = [
        image("kid", pushed=200, is_index_child=True),
        image("expiring", ["e"], pushed=200, child_digests=("kid",)),
        image("archived", ["a"], pushed=200, storage_class="archive", child_digests=("kid",)),
    ]
    p = policy(rule(1, "tagged", "sinceImagePushed", 100, tagPrefixList=["e"]))
    assert [(o.digest, o.action) for o in evaluate(p, images, NOW)] == [
        ("expiring", "EXPIRE"),
        ("kid", "TRANSITION"),
    ]
