"""The GetLifecyclePolicyPreview shapes and the explain() extension."""

from __future__ import annotations

from lifecycle_testlib import NOW, days_ago, image, policy, rule

from dockyard.features.lifecycle import evaluate, explain, preview_result, preview_summary

MIXED = policy(
    rule(1, "untagged", "sinceImagePushed", 7),
    rule(2, "tagged", count_number=1, action="transition", tagPrefixList=["v"]),
)
IMAGES = [
    image("u-old", pushed=10),
    image("u-new", pushed=1),
    image("v1", ["v1", "stable"], pushed=9),
    image("v2", ["v2"], pushed=2),
    image("other", ["x"], pushed=30),
]


def test_preview_results_and_summary() -> None:
    outcomes = evaluate(MIXED, IMAGES, NOW)
    assert [preview_result(o) for o in outcomes] == [
        {
            "imageTags": [],
            "imageDigest": "u-old",
            "imagePushedAt": days_ago(10),
            "action": {"type": "EXPIRE"},
            "appliedRulePriority": 1,
            "storageClass": "STANDARD",
        },
        {
            "imageTags": ["v1", "stable"],
            "imageDigest": "v1",
            "imagePushedAt": days_ago(9),
            "action": {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"},
            "appliedRulePriority": 2,
            "storageClass": "STANDARD",
        },
    ]
    assert preview_summary(outcomes) == {
        "expiringImageTotalCount": 1,
        "transitioningImageTotalCounts": [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 1}],
    }


def test_summary_omits_transitions_when_there_are_none() -> None:
    outcomes = evaluate(policy(rule(1)), [image("a", pushed=2), image("b", pushed=1)], NOW)
    assert preview_summary(outcomes) == {"expiringImageTotalCount": 1}
    assert preview_summary([]) == {"expiringImageTotalCount": 0}


def test_explain_covers_every_image_oldest_first() -> None:
    explanations = explain(MIXED, IMAGES, NOW)
    assert [e.digest for e in explanations] == ["other", "u-old", "v1", "v2", "u-new"]
    by_digest = {e.digest: e for e in explanations}
    assert (by_digest["u-old"].verdict, by_digest["u-old"].rule_priority) == ("EXPIRE", 1)
    assert "more than 7 days" in by_digest["u-old"].reasons[0]
    assert (by_digest["v1"].verdict, by_digest["v1"].rule_priority) == ("TRANSITION", 2)
    assert by_digest["v2"].verdict == "KEEP"
    assert "within the 1 it keeps" in by_digest["v2"].reasons[0]
    assert by_digest["u-new"].verdict == "KEEP"
    assert "within 7 days" in by_digest["u-new"].reasons[0]
    assert by_digest["other"].reasons == ("no rule selects it",)


def test_explain_names_the_protecting_rule() -> None:
    p = policy(rule(1, "tagged", tagPrefixList=["prod"]), rule(2, "tagged", tagPrefixList=["beta"]))
    images = [
        image("A", ["beta-1", "prod-1"], pushed=10),
        image("B", ["beta-2", "prod-2"], pushed=9),
        image("C", ["beta-3"], pushed=8),
    ]
    by_digest = {e.digest: e for e in explain(p, images, NOW)}
    assert by_digest["B"].verdict == "KEEP"
    assert any("higher-priority rule 1, which protects it" in r for r in by_digest["B"].reasons)
    assert any("already marked by rule 1" in r for r in by_digest["A"].reasons)
    # explain and evaluate agree
    assert [e.digest for e in by_digest.values() if e.verdict != "KEEP"] == [
        o.digest for o in evaluate(p, images, NOW)
    ]
