"""What a forked child must not inherit: its parent's sockets, locks and threads.

`os.fork()` copies a process with its connection pools (whose sockets the parent keeps
using: a reply read by the wrong process is another's answer), its locks as they were (one
held by another thread at that instant is held for ever in the child) and none of its other
threads. Objects that own such things register a method here; it runs in every child right
after the fork, before the child's own code (multiprocessing's fork start method included).
Spawned processes import everything afresh and need none of this; threads share all of it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

__all__ = ["after_fork", "renew_locks"]

_hooks: list[weakref.WeakMethod[Callable[[], None]]] = []
_hooks_lock = threading.Lock()


def after_fork(method: Callable[[], None]) -> None:
    """Call the bound `method` in every forked child while its object lives."""
    global _hooks
    with _hooks_lock:
        if len(_hooks) > 64 and len(_hooks) & (len(_hooks) - 1) == 0:
            _hooks = [ref for ref in _hooks if ref() is not None]  # dead ones, now and then
        _hooks.append(weakref.WeakMethod(method))


def renew_locks(owner: object, *names: str) -> None:
    """Give `owner` fresh locks under `names` in a forked child."""
    ref = weakref.ref(owner)

    class _Renewal:
        def renew(self) -> None:
            target = ref()
            if target is not None:
                for name in names:
                    setattr(target, name, threading.Lock())

    renewal = _Renewal()
    # Kept alive by the owner itself: the hook lives exactly as long as it does.
    owner.__dict__.setdefault("_fork_renewals", []).append(renewal)
    after_fork(renewal.renew)


def _in_child() -> None:
    global _hooks_lock
    _hooks_lock = threading.Lock()
    for ref in list(_hooks):
        method = ref()
        if method is not None:
            method()


os.register_at_fork(after_in_child=_in_child)
