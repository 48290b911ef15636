"""Remediation actions: the five of the paper, and any the user registers."""

from __future__ import annotations

import re
from typing import ClassVar

from safeheal.errors import ConfigError

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Action:
    """An open enumeration of remediation actions.

    The paper's five are class attributes; :meth:`register` adds more (for example restarting a
    leaking replica). Actions are interned: ``Action("RETRAIN") is Action.RETRAIN``.

    >>> Action.RETRAIN, Action("retrain") is Action.RETRAIN, Action.RETRAIN.value
    (Action.RETRAIN, True, 'retrain')
    >>> restart = Action.register("RESTART_REPLICA")
    >>> restart in Action.members()
    True
    """

    __slots__ = ("name", "value")
    _members: ClassVar[dict[str, Action]] = {}

    NO_OP: ClassVar[Action]
    FALLBACK: ClassVar[Action]
    ROLLBACK: ClassVar[Action]
    RETRAIN: ClassVar[Action]
    ESCALATE: ClassVar[Action]

    name: str
    value: str

    def __new__(cls, name: str | Action) -> Action:
        if isinstance(name, Action):
            return name
        key = str(name).upper()
        try:
            return cls._members[key]
        except KeyError:
            known = ", ".join(cls._members)
            raise ConfigError(f"unknown action {name!r}; expected one of {known}") from None

    @classmethod
    def register(cls, name: str) -> Action:
        """Add an action (idempotent); ``name`` is UPPER_SNAKE_CASE."""
        key = str(name).upper()
        if not _NAME.match(key):
            raise ConfigError(
                f"an action name must be letters, digits and underscores, starting with a "
                f"letter; got {name!r}"
            )
        if key in cls._members:
            return cls._members[key]
        member = object.__new__(cls)
        object.__setattr__(member, "name", key)
        object.__setattr__(member, "value", key.lower())
        cls._members[key] = member
        return member

    @classmethod
    def members(cls) -> tuple[Action, ...]:
        """Every action, in registration order (the paper's five first)."""
        return tuple(cls._members.values())

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Action is immutable")

    def __repr__(self) -> str:
        return f"Action.{self.name}"

    def __str__(self) -> str:
        return self.value

    def __reduce__(self) -> tuple[type[Action], tuple[str]]:
        return (Action, (self.name,))

    def __lt__(self, other: Action) -> bool:
        order = list(Action._members)
        return order.index(self.name) < order.index(other.name)


for _n in ("NO_OP", "FALLBACK", "ROLLBACK", "RETRAIN", "ESCALATE"):
    setattr(Action, _n, Action.register(_n))
del _n
