"""Every docstring example of the installed package runs and gives what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import driftlab

MODULES = sorted(m.name for m in pkgutil.walk_packages(driftlab.__path__, "driftlab."))


def test_modules_found() -> None:
    assert "driftlab.metrics.ratemaps" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
