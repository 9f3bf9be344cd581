"""Evaluate a lifecycle policy against a repository's images, with ECR's semantics.

ECR's evaluation rules (LifecyclePolicies.md, "Lifecycle policy evaluation rules"):

1. All rules are evaluated at once, then applied in priority order (lowest number first).
2. An image is expired (or archived) by exactly one rule or by none.
3. An image that matches the tagging requirements of a rule cannot be expired by a rule
   of lower priority. (Here "tagging requirements" includes the rule's storage class: an
   archive-class rule must be able to expire images a standard-class ``any`` rule archived.)
4. Rules never mark images already marked by a higher-priority rule, but still *count* them.
5. ``imageCountMoreThan`` ranks the images a rule selects youngest to oldest by push time
   and marks everything past ``countNumber``; the ``since*`` types mark images whose push,
   last pull (push time when never pulled) or archive time is more than ``countNumber``
   days before ``now``. Results are ordered by push time, oldest first.

ECR specifics on top of those:

* Children of an image index (``is_index_child``) are never selected, counted or marked by
  a rule: "if an image is referenced by a manifest list, it cannot be expired or archived
  without the manifest list being deleted or archived first". They go with their index(es):
  expired once every index listing them (``ImageInfo.child_digests``) is expired, archived
  once every such index is expired or archived (before or now), unless tagged: a tagged
  child is an image in its own right and stays pullable.
* Referrers (images whose ``subject_digest`` is an expired image) are expired with their
  subject, transitively. Otherwise referrers are ordinary images that rules select.

Everything here is pure: the caller supplies the images and ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .matching import selects
from .rules import LifecyclePolicy, Rule, Selection

ActionName = Literal["EXPIRE", "TRANSITION"]
Verdict = Literal["EXPIRE", "TRANSITION", "KEEP"]


@dataclass(frozen=True)
class ImageInfo:
    """What the evaluator needs to know about one image (manifest) in the repository.

    ``child_digests`` is a Dockyard addition: for an image index, the manifests it lists,
    so that its children can go with it. ``storage_class`` is "standard" or "archive".
    Datetimes should all be timezone-aware (UTC).
    """

    digest: str
    tags: list[str]
    pushed_at: datetime
    last_pulled_at: datetime | None = None
    storage_class: str = "standard"
    transitioned_at: datetime | None = None
    is_index_child: bool = False
    subject_digest: str | None = None
    size: int = 0
    child_digests: tuple[str, ...] = ()

    @property
    def storage(self) -> str:
        return self.storage_class.lower()


@dataclass(frozen=True, slots=True)
class Outcome:
    """One ``previewResults`` entry: an image the policy expires or archives."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    action: ActionName
    rule_priority: int
    target_storage_class: Literal["ARCHIVE"] | None
    storage_class: Literal["STANDARD", "ARCHIVE"] = "STANDARD"  # the image's class now


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one image is kept, expired or archived (Dockyard's richer preview)."""

    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    verdict: Verdict
    rule_priority: int | None
    reasons: tuple[str, ...]


@dataclass(slots=True)
class _Decision:
    action: ActionName
    rule_priority: int
    reason: str


@dataclass(slots=True)
class _Run:
    decisions: dict[str, _Decision] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _push_key(image: ImageInfo) -> tuple[datetime, str]:
    return (image.pushed_at, image.digest)


def _pull_key(image: ImageInfo) -> tuple[datetime, datetime, str]:
    return (image.last_pulled_at or image.pushed_at, image.pushed_at, image.digest)


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.1f} days"


def _candidates(
    rule: Rule, selected: list[ImageInfo], now: datetime
) -> tuple[list[tuple[ImageInfo, str]], list[tuple[ImageInfo, str]]]:
    """Split the images a rule selects into (to mark, to keep), each with a reason."""
    sel: Selection = rule.selection
    p, n = rule.priority, sel.count_number
    marked: list[tuple[ImageInfo, str]] = []
    kept: list[tuple[ImageInfo, str]] = []
    if sel.count_type == "imageCountMoreThan":
        by_pull = sel.sort_by == "lastPulled"
        key: Callable[[ImageInfo], tuple[object, ...]] = _pull_key if by_pull else _push_key
        order = "most recently pulled" if by_pull else "most recently pushed"
        ranked = sorted(selected, key=key, reverse=True)
        for rank, image in enumerate(ranked, start=1):
            where = f"#{rank} of {len(ranked)} images it selects by {order}"
            if rank <= n:
                kept.append((image, f"rule {p} keeps it: {where}, within the {n} it keeps"))
            else:
                marked.append((image, f"rule {p}: {where}, beyond the {n} it keeps"))
        return marked, kept
    limit = timedelta(days=n)
    for image in selected:
        if sel.count_type == "sinceImagePushed":
            since, what = image.pushed_at, "pushed"
        elif sel.count_type == "sinceImagePulled":
            if image.last_pulled_at is None:
                since, what = image.pushed_at, "never pulled; pushed"
            else:
                since, what = image.last_pulled_at, "last pulled"
        else:  # sinceImageTransitioned
            if image.transitioned_at is None:
                kept.append((image, f"rule {p}: archive time unknown, so it is left alone"))
                continue
            since, what = image.transitioned_at, "archived"
        age = now - since
        if age > limit:
            marked.append((image, f"rule {p}: {what} {_days(age)} ago, more than {n} days"))
        else:
            kept.append((image, f"rule {p}: {what} {_days(age)} ago, within {n} days"))
    return marked, kept


def _apply_rules(policy: LifecyclePolicy, images: Sequence[ImageInfo], now: datetime, run: _Run) -> None:
    standalone = [image for image in images if not image.is_index_child]
    for index, rule in enumerate(policy.rules):
        higher = policy.rules[:index]
        selected = [image for image in standalone if selects(rule.selection, image.tags, image.storage)]
        marked, kept = _candidates(rule, selected, now)
        for image, reason in kept:
            run.notes[image.digest].append(reason)
        action: ActionName = "EXPIRE" if rule.action.type == "expire" else "TRANSITION"
        for image, reason in sorted(marked, key=lambda pair: _push_key(pair[0])):
            earlier = run.decisions.get(image.digest)
            if earlier is not None:
                run.notes[image.digest].append(f"{reason} (already marked by rule {earlier.rule_priority})")
                continue
            protector = next(
                (r for r in higher if selects(r.selection, image.tags, image.storage)),
                None,
            )
            if protector is not None:
                run.notes[image.digest].append(
                    f"{reason}, but it matches the selection of higher-priority rule "
                    f"{protector.priority}, which protects it"
                )
                continue
            run.decisions[image.digest] = _Decision(action, rule.priority, reason)


def _cascade(images: Sequence[ImageInfo], run: _Run) -> None:
    """Take referrers along with expired subjects, and index children with their indexes."""
    by_digest = {image.digest: image for image in images}
    referrers: dict[str, list[ImageInfo]] = defaultdict(list)
    parents: dict[str, list[str]] = defaultdict(list)
    for image in images:
        if image.subject_digest:
            referrers[image.subject_digest].append(image)
        for listed in image.child_digests:
            parents[listed].append(image.digest)

    changed = True
    while changed:
        changed = False
        for digest, decision in list(run.decisions.items()):
            if decision.action != "EXPIRE":
                continue
            for referrer in referrers.get(digest, ()):
                current = run.decisions.get(referrer.digest)
                if current is None or current.action != "EXPIRE":
                    reason = f"expired with its subject {digest} (rule {decision.rule_priority})"
                    run.decisions[referrer.digest] = _Decision("EXPIRE", decision.rule_priority, reason)
                    changed = True
        for child_digest, index_digests in parents.items():
            child = by_digest.get(child_digest)
            if child is None or not child.is_index_child:
                continue
            decided: list[_Decision] = []
            already_archived = False  # a listing index archived before this evaluation
            undecided = False
            for index_digest in index_digests:
                index_decision = run.decisions.get(index_digest)
                if index_decision is not None:
                    decided.append(index_decision)
                elif index_digest in by_digest and by_digest[index_digest].storage == "archive":
                    already_archived = True
                else:
                    undecided = True
            if undecided or not decided:
                continue
            priority = min(d.rule_priority for d in decided)
            current = run.decisions.get(child_digest)
            if not already_archived and all(d.action == "EXPIRE" for d in decided):
                if current is None or current.action != "EXPIRE":
                    reason = f"expired with its image index {', '.join(index_digests)}"
                    run.decisions[child_digest] = _Decision("EXPIRE", priority, reason)
                    changed = True
            elif current is None and child.storage == "standard" and not child.tags:
                # A tagged child is an image in its own right: it stays pullable.
                reason = f"archived with its image index {', '.join(index_digests)}"
                run.decisions[child_digest] = _Decision("TRANSITION", priority, reason)
                changed = True


def _run(policy: LifecyclePolicy, images: Sequence[ImageInfo], now: datetime) -> _Run:
    run = _Run()
    _apply_rules(policy, images, now, run)
    _cascade(images, run)
    return run


def evaluate(policy: LifecyclePolicy, images: Iterable[ImageInfo], now: datetime) -> list[Outcome]:
    """The images ``policy`` expires or archives at ``now``, oldest push first."""
    image_list = list(images)
    run = _run(policy, image_list, now)
    outcomes = []
    for image in sorted(image_list, key=_push_key):
        decision = run.decisions.get(image.digest)
        if decision is None:
            continue
        outcomes.append(
            Outcome(
                digest=image.digest,
                tags=tuple(image.tags),
                pushed_at=image.pushed_at,
                action=decision.action,
                rule_priority=decision.rule_priority,
                target_storage_class="ARCHIVE" if decision.action == "TRANSITION" else None,
                storage_class="ARCHIVE" if image.storage == "archive" else "STANDARD",
            )
        )
    return outcomes


def explain(policy: LifecyclePolicy, images: Iterable[ImageInfo], now: datetime) -> list[Explanation]:
    """For every image, oldest push first: kept, expired or archived, and why."""
    image_list = list(images)
    run = _run(policy, image_list, now)
    explanations = []
    for image in sorted(image_list, key=_push_key):
        decision = run.decisions.get(image.digest)
        notes = run.notes.get(image.digest, [])
        if decision is not None:
            others = [note for note in notes if note != decision.reason]
            explanations.append(
                Explanation(
                    digest=image.digest,
                    tags=tuple(image.tags),
                    pushed_at=image.pushed_at,
                    verdict=decision.action,
                    rule_priority=decision.rule_priority,
                    reasons=(decision.reason, *others),
                )
            )
            continue
        reasons = list(notes)
        if image.is_index_child:
            reasons.insert(0, "index child: it is expired or archived only together with its image index")
        if not reasons:
            reasons.append("no rule selects it")
        explanations.append(
            Explanation(
                digest=image.digest,
                tags=tuple(image.tags),
                pushed_at=image.pushed_at,
                verdict="KEEP",
                rule_priority=None,
                reasons=tuple(reasons),
            )
        )
    return explanations
