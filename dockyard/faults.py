"""Named crash points, FOR TESTS ONLY: the fault-injection suite (tests/faults/) kills a process
at a chosen point to prove that a crash there loses nothing acknowledged and strands nothing a
garbage collection does not reclaim.

``DOCKYARD_CRASH_AT=name`` (or ``name:N``) makes the Nth pass (default the first) through
``crash_point("name")`` SIGKILL its own process: no cleanup, no ``finally``, exactly what an
OOM kill or a power cut does to the process. The variable is read once, at import; unset (every
normal run) a crash point is one comparison with None.
"""

from __future__ import annotations

import os
import signal

ENV = "DOCKYARD_CRASH_AT"

# Every crash point in the code, so the suite can check it drives them all.
POINTS = (
    "blob.after_bytes_written",  # chunk or monolithic body stored, its size not yet recorded
    "blob.after_publish",  # bytes published under their blob key, the blob row not yet committed
    "manifest.before_commit",  # manifest row written, tags not yet moved, transaction open
    "gc.after_tombstones",  # blob rows tombstoned and committed, their bytes not yet deleted
    "lifecycle.in_batch",  # a batch of expiries applied, its transaction not yet committed
    "scan.after_layer_analyzed",  # a layer analysed, its cached result not yet written
)


def _parse(raw: str | None) -> tuple[str, int] | None:
    if not raw:
        return None
    name, _, count = raw.partition(":")
    return name.strip(), max(1, int(count)) if count.strip() else 1


_target = _parse(os.environ.get(ENV))
_passes = 0


def crash_point(name: str) -> None:
    """SIGKILL this process if the test environment names this point (and this pass)."""
    if _target is None:
        return
    _maybe_crash(name)


def _maybe_crash(name: str) -> None:
    global _passes
    assert _target is not None
    if name != _target[0]:
        return
    _passes += 1
    if _passes >= _target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
