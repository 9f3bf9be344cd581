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


def test_preview_status_values_are_the_models() -> None:
    """GetLifecyclePolicyPreview reports one of the model's four statuses: a lost job's
    preview reads FAILED (the waiter stops), old results read EXPIRED."""
    from datetime import timedelta
    from types import SimpleNamespace

    import botocore.session

    from dockyard.features.lifecycle.policies import PREVIEW_RESULTS_TTL, STALE_PREVIEW, preview_status

    model = botocore.session.get_session().get_service_model("ecr")
    assert set(model.shape_for("LifecyclePolicyPreviewStatus").enum) == {
        "IN_PROGRESS",
        "COMPLETE",
        "EXPIRED",
        "FAILED",
    }
    assert set(model.shape_for("ImageActionType").enum) == {"EXPIRE", "TRANSITION"}
    assert set(model.shape_for("LifecyclePolicyStorageClass").enum) == {"ARCHIVE", "STANDARD"}
    assert set(model.shape_for("LifecyclePolicyTargetStorageClass").enum) == {"ARCHIVE"}

    def row(status: str, started_ago: timedelta, finished_ago: timedelta | None = None) -> SimpleNamespace:
        finished = None if finished_ago is None else NOW - finished_ago
        return SimpleNamespace(status=status, started_at=NOW - started_ago, finished_at=finished)

    second = timedelta(seconds=1)
    assert preview_status(row("IN_PROGRESS", second), NOW) == "IN_PROGRESS"
    assert preview_status(row("IN_PROGRESS", STALE_PREVIEW + second), NOW) == "FAILED"
    assert preview_status(row("COMPLETE", second, second), NOW) == "COMPLETE"
    old = PREVIEW_RESULTS_TTL + second
    assert preview_status(row("COMPLETE", old + second, old), NOW) == "EXPIRED"
    assert preview_status(row("FAILED", old, old), NOW) == "FAILED"

    # Every result shape uses only the model's values.
    for outcome in evaluate(MIXED, IMAGES, NOW):
        result = preview_result(outcome)
        assert result["action"]["type"] in model.shape_for("ImageActionType").enum
        assert result["storageClass"] in model.shape_for("LifecyclePolicyStorageClass").enum
        assert set(result) <= set(model.shape_for("LifecyclePolicyPreviewResult").members)
