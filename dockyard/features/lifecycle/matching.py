"""Which images a rule's selection picks out ("the tagging requirements of a rule").

Kept apart from the evaluator because the same predicate serves two purposes there: a rule
*selects* the images it counts, and an image selected by a higher-priority rule is
*protected* from every lower-priority rule ("An image that matches the tagging
requirements of a rule cannot be expired by a rule with a lower priority").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .rules import Selection


@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """``*`` matches any run of characters (including none); everything else is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def pattern_matches(pattern: str, tag: str) -> bool:
    """Whole-tag wildcard match, case-sensitive like image tags themselves."""
    return _pattern_regex(pattern).fullmatch(tag) is not None


def tags_match(selection: Selection, tags: Sequence[str]) -> bool:
    """Whether an image with ``tags`` meets the selection's tag status and tag lists.

    Both lists are AND: every entry must match *some* tag of the image ("if you specify
    multiple tags, only the images with all specified tags are selected").
    """
    if selection.tag_status == "any":
        return True
    if selection.tag_status == "untagged":
        return not tags
    if not tags:
        return False
    if selection.tag_prefix_list:
        return all(any(tag.startswith(prefix) for tag in tags) for prefix in selection.tag_prefix_list)
    return all(any(pattern_matches(pattern, tag) for tag in tags) for pattern in selection.tag_pattern_list)


def selects(selection: Selection, tags: Sequence[str], storage_class: str) -> bool:
    """Tag requirements plus storage class: a rule only ever sees images of its class."""
    return storage_class == selection.storage_class and tags_match(selection, tags)
