"""Tasks: each returns a :class:`TaskData` (inputs, targets, positions-or-None)."""

from driftlab.tasks.base import TaskData
from driftlab.tasks.corridor import CorridorParams, corridor_task

__all__ = ["CorridorParams", "TaskData", "corridor_task"]
