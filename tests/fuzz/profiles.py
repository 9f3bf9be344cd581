"""The fuzz tests' Hypothesis profiles: `ci` (the default: a few hundred examples in all, well
under a minute) and `long` (`pytest tests/fuzz --hypothesis-profile=long`). The tests carry the
chosen profile as explicit settings, so other Hypothesis tests in the same run keep theirs."""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("ci", max_examples=25, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=1500, **_COMMON)  # type: ignore[arg-type]


def chosen_profile(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg.startswith("--hypothesis-profile="):
            return arg.partition("=")[2]
        if arg == "--hypothesis-profile" and i + 1 < len(argv):
            return argv[i + 1]
    return "ci"


PROFILE = chosen_profile(sys.argv)
fuzz_settings = settings(settings.get_profile(PROFILE if PROFILE in ("ci", "long") else "ci"))
