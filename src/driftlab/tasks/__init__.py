"""Tasks: each returns a :class:`TaskData` (inputs, targets, positions-or-None)."""

from driftlab.tasks.abstract import ABSTRACT_KINDS, AbstractParams, abstract_task
from driftlab.tasks.base import TaskData
from driftlab.tasks.corridor import CorridorParams, corridor_task

__all__ = [
    "ABSTRACT_KINDS",
    "AbstractParams",
    "CorridorParams",
    "TaskData",
    "abstract_task",
    "corridor_task",
]
