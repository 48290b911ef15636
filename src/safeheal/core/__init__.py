"""Value types shared by every stage of the loop: the State of a model for one window."""

from safeheal.core.state import State

__all__ = ["State"]
