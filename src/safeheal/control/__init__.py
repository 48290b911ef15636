"""The closed loop: a controller that runs the detect → decide → heal → learn loop for a fleet
of models, on an injectable clock.

- :class:`Controller` runs one window of one model (:meth:`~Controller.step`) or of every model
  (:meth:`~Controller.run_once`), in the model's mode (``shadow``, ``canary``, ``autonomous``),
  recording every action before its effect so that a restart neither repeats an action nor leaves
  a canary half-done.
- :class:`RealClock`, :class:`ManualClock` and :class:`AcceleratedClock` are its clocks.
- :func:`register_profile` saves what a model version was healthy on (reference inputs, baseline
  accuracy), from which the controller builds the version's :class:`~safeheal.signals.Monitor`.
- :class:`TimedProbe` (a :class:`LatencyProbe`) times a version where it serves, so that the
  controller restores a champion only once its slowness is gone.

This package imports the store (SQLAlchemy) and the configuration (pydantic); ``import safeheal``
does not import it.
"""

from safeheal.control._canary import CANARY_MODE_PAUSE, gate_canary
from safeheal.control._clock import AcceleratedClock, Clock, ManualClock, RealClock
from safeheal.control._controller import MODES, Controller, ModelMode, WindowResult, WindowStatus
from safeheal.control._probe import LatencyProbe, TimedProbe
from safeheal.control._profile import MonitorCache, make_profile, register_profile
from safeheal.control._window import WindowData, read_window

__all__ = [
    "CANARY_MODE_PAUSE",
    "MODES",
    "AcceleratedClock",
    "Clock",
    "Controller",
    "LatencyProbe",
    "ManualClock",
    "ModelMode",
    "MonitorCache",
    "RealClock",
    "TimedProbe",
    "WindowData",
    "WindowResult",
    "WindowStatus",
    "gate_canary",
    "make_profile",
    "read_window",
    "register_profile",
]
