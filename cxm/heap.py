"""Keep Python's cyclic garbage collector off the objects a long-running process made at start-up.

A full (generation 2) collection scans every tracked object of the process. A PyFlink worker or the ``cxm run``
process holds a few hundred thousand of them after its imports (pandas, pyarrow, Beam, River) and its models
and policies, and the per-row work of the hot paths (parsing changelog rows, building decision records)
allocates enough containers to trigger such a collection every few thousand rows. Measured on the decision
path (``decide`` + ``to_record`` with the decision worker's imports loaded, 171k tracked objects): 90 µs per
decision with the default collector, 54 µs after :func:`freeze_startup_heap`; parsing changelog rows in the
Feast writer: 2.0 -> 1.0 µs per row.

``gc.freeze`` moves every object tracked so far into a permanent generation that collections skip. Reference
counting still frees them; only reference cycles among them are never collected, which is what start-up
objects (modules, classes, loaded models) are meant to be: alive until the process ends.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then exclude every object tracked so far from later collections; returns how many.

    Call it once, after the start-up (imports, models, policies) and before the hot loop.

    >>> gc.unfreeze()
    >>> n = freeze_startup_heap()
    >>> n > 0, gc.get_freeze_count() > 0
    (True, True)
    >>> gc.unfreeze()
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
