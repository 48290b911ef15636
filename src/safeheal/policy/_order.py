"""A deterministic order on actions (registration order), so seeded runs repeat exactly.

``frozenset`` iteration order depends on object ids, which differ between runs; anything that
draws random numbers per action or breaks ties must go through :func:`ordered`.
"""

from __future__ import annotations

from collections.abc import Iterable

from safeheal.core.action import Action

_index: dict[Action, int] = {}


def rank(action: Action) -> int:
    """Position of ``action`` in registration order (the paper's five first)."""
    try:
        return _index[action]
    except KeyError:
        _index.clear()
        _index.update({a: i for i, a in enumerate(Action.members())})
        return _index[action]


def ordered(actions: Iterable[Action]) -> tuple[Action, ...]:
    """``actions`` sorted by registration order."""
    return tuple(sorted(actions, key=rank))
