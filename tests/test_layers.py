"""Layering: reading a run directory, the measurements and the run figures need no JAX."""

from __future__ import annotations

import subprocess
import sys

import pytest

JAX_FREE = (
    "driftlab",
    "driftlab.rundir",
    "driftlab.errors",
    "driftlab.runner.lock",
    "driftlab.runner.progress",
    "driftlab.cli",
    "driftlab.metrics",
    "driftlab.metrics.spectrum",
    "driftlab.plots",
    "driftlab.plots.fig2",
    "driftlab.plots.fig3c",
    "driftlab.plots.fig4",
    "driftlab.metrics.similarity",
    "driftlab.plots.generality",
    "driftlab.experiments",
    "driftlab.experiments.fig2",
    "driftlab.experiments.fig3c",
    "driftlab.experiments.fig4",
    "driftlab.recorders",
    "driftlab.divergence",
    "driftlab.runner.recorders",
    "driftlab.runner.schedule",
    "driftlab.sweep",
    "driftlab.sweep.store",
    "driftlab.sweep.summary",
    "driftlab.sweep.groups",
    "driftlab.sweep.figures",
    "driftlab.sweep.worker",
    "driftlab.plots.sweep",
    "driftlab.reproduce",
    "driftlab.reproduce.claims",
    "driftlab.reproduce.verdicts",
    "driftlab.reproduce.report",
    "driftlab.reproduce.readme",
    "driftlab.reproduce.scales",
    "driftlab.reproduce.stages",
    "driftlab.reproduce.job",
)


@pytest.mark.parametrize("module", JAX_FREE)
def test_module_imports_without_jax(module: str) -> None:
    code = f"import sys, {module}; print('jax' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", f"importing {module} imports JAX"


def test_reading_a_run_and_its_figure_data_needs_no_jax(tmp_path) -> None:
    """A finished run read back, and Figure 2's panels computed, in a process without JAX."""
    from conftest import TINY
    from driftlab.config import parse_config
    from driftlab.run import execute

    execute(parse_config(TINY), tmp_path / "run", progress=False)
    code = (
        "import sys\n"
        "from driftlab.rundir import load_run, read_status\n"
        "from driftlab.plots import fig2_data\n"
        f"ts = load_run({str(tmp_path / 'run')!r})['timeseries']\n"
        f"d = fig2_data({str(tmp_path / 'run')!r})\n"
        f"print(read_status({str(tmp_path / 'run')!r})['state'], ts.sizes['time'],"
        " d.maps.shape[0], 'jax' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["complete", "4", "4", "False"]


def test_the_library_never_chooses_a_matplotlib_backend() -> None:
    from pathlib import Path

    import driftlab

    src = Path(driftlab.__file__).parent
    users = [
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if "matplotlib.use(" in p.read_text() and p.name != "cli.py"
    ]
    assert users == []


def test_every_public_name_resolves() -> None:
    import driftlab

    for name in driftlab.__all__:
        assert getattr(driftlab, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = driftlab.nonexistent


def test_no_module_imports_another_modules_private_names() -> None:
    """``from driftlab.x import _name`` nowhere in the package: what one module uses of
    another is public (documented), so a module can change its insides freely."""
    import ast
    from pathlib import Path

    import driftlab

    src = Path(driftlab.__file__).parent
    found = []
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("driftlab"):
                found += [
                    f"{path.relative_to(src)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and a.name != "__version__"
                ]
    assert found == []


def test_both_models_run_through_the_one_runner(tmp_path, monkeypatch) -> None:
    """The feed-forward and the Hebbian run are both driven by runner.loop.run_engine."""
    from conftest import TINY
    from driftlab import run as ff_run
    from driftlab.config import parse_config
    from driftlab.hebbian import run as hebb_run
    from driftlab.hebbian.config import parse_hebbian_config
    from driftlab.runner import loop

    seen = []
    real = loop.run_engine

    def spy(config, out, build, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(type(build()).__name__)
        return real(config, out, build, **kwargs)

    monkeypatch.setattr(ff_run, "run_engine", spy)
    monkeypatch.setattr(hebb_run, "run_engine", spy)
    ff_run.execute(parse_config(TINY), tmp_path / "ff", progress=False)
    tiny_hebbian = {"network": {"neurons": 8}, "inputs": {"ring": {"n_inputs": 16}}}
    hebb_cfg = parse_hebbian_config({**tiny_hebbian, "train": {"steps": 20}})
    hebb_run.execute_hebbian(hebb_cfg, tmp_path / "hebb", progress=False)
    assert seen == ["FeedforwardEngine", "HebbianEngine"]
    assert loop.read_status(tmp_path / "hebb")["model"] == "hebbian"
    assert loop.read_status(tmp_path / "ff")["model"] == "feedforward"
