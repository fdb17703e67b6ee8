"""A sweep spec, and its expansion into a deterministic list of runs.

A spec (YAML or TOML) describes many feed-forward runs of differently shaped
configurations, as the paper's Table 1 and Figure 3 sweeps are::

    name: noise_scan
    seed: 0              # the sweep's seed: every random draw derives from it
    count: 178           # runs in all (omit it for a pure grid: each point once)
    base:                # any run-config fields, shared by every run
      model: {hidden: 100, init: rich}
      train: {steps: 10000000}
    vary:                # dotted run-config fields and how each varies
      task.name: {choice: [random, smoothed, predictive]}
      noise.update.sd: {loguniform: [0.001, 0.1]}
    branches:            # mutually exclusive alternatives, shared by weight
      gd_update: {weight: 9, set: {train.rule: gd}, vary: {...}}
      adam: {weight: 1, set: {train.rule: adam, train.lr: 0.001}}

How a field varies (:data:`DISTRIBUTIONS`): ``choice: [a, b, ...]`` one of the
values, each equally likely; ``uniform: [lo, hi]``; ``loguniform: [lo, hi]``
(uniform in log, lo > 0); ``randint: [lo, hi]`` an integer, both ends included;
``grid: [a, b, ...]`` every value in turn; ``logspace: [lo, hi, n]`` and
``linspace: [lo, hi, n]`` a grid of n values.

Expansion (:func:`expand`) is deterministic on any machine and any numpy:

* the ``count`` runs are shared among the branches in proportion to their
  weights, by largest remainder (ties to the earlier branch); without
  ``count`` each branch runs its grid once;
* within a branch of n runs, run j takes point ``j mod G`` of the branch's grid
  (the Cartesian product of its grid fields, in the order written); when n < G
  (a shrunken grid) the n points are a subset drawn without repeats (the grid
  ordered by the SHA-256 of each point, the same subset in every branch), and
  run j draws every
  random field from a number in [0, 1) made from the SHA-256 of (seed, branch,
  j, field): a run's values do not depend on any other run, on the order of
  the draws, or on the random-number library;
* a run's ``seed`` (data, initial weights, noise) is its index j within its
  branch, unless the spec sets or varies ``seed``: run j of every branch shares
  its data and initial weights where their shapes agree (common random numbers,
  e.g. update against label noise on the same networks);
* each run is identified by :func:`driftlab.config.config_digest` of its
  resolved config (the first :data:`ID_DIGITS` hex digits): the same config
  is the same run, wherever it is listed (listed twice, it runs once).

A branch's ``set`` or ``vary`` of a field replaces the spec's ``vary`` of it
(e.g. a noise-free control branch that sets the noise the others vary).
Every error is one line naming the spec and the field (:class:`ConfigError`).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftlab.config import RunConfig, config_digest, parse_config
from driftlab.config.layers import load_file, load_named_preset, merge
from driftlab.config.schema import MAX_NETWORKS, clip, show
from driftlab.errors import ConfigError

DISTRIBUTIONS: tuple[str, ...] = (
    "choice",
    "uniform",
    "loguniform",
    "randint",
    "grid",
    "logspace",
    "linspace",
)
GRIDS: frozenset[str] = frozenset({"grid", "logspace", "linspace"})
SPEC_KEYS: tuple[str, ...] = ("name", "seed", "count", "base", "vary", "branches")
BRANCH_KEYS: tuple[str, ...] = ("weight", "set", "vary")
MAX_RUNS = MAX_NETWORKS
"""Most runs one sweep may list."""
ID_DIGITS = 12
"""Hex digits of a run's id (48 bits: no collision among 10^5 runs but by a chance
of about 2 x 10^-5)."""


@dataclass(frozen=True)
class Vary:
    """How one field varies: a distribution (:data:`DISTRIBUTIONS`) and its arguments."""

    field: str
    kind: str
    args: tuple[Any, ...]

    @property
    def is_grid(self) -> bool:
        return self.kind in GRIDS

    def grid_values(self) -> tuple[Any, ...]:
        """The values of a grid field, in order."""
        if self.kind == "grid":
            return self.args
        lo, hi, n = self.args
        if n == 1:
            return (lo,)
        if self.kind == "linspace":
            return tuple(lo + (hi - lo) * i / (n - 1) for i in range(n))
        a, b = math.log(lo), math.log(hi)
        return tuple(math.exp(a + (b - a) * i / (n - 1)) for i in range(n))

    def probes(self) -> tuple[Any, ...]:
        """The values to validate: every listed value, or both ends of a range."""
        if self.is_grid:
            return self.grid_values()
        return self.args if self.kind == "choice" else self.args[:2]

    def draw(self, u: float) -> Any:
        """The value of a random field for ``u`` in [0, 1)."""
        if self.kind == "choice":
            return self.args[min(int(u * len(self.args)), len(self.args) - 1)]
        lo, hi = self.args
        if self.kind == "uniform":
            return lo + u * (hi - lo)
        if self.kind == "loguniform":
            return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        return lo + min(int(u * (hi - lo + 1)), hi - lo)  # randint, both ends included


@dataclass(frozen=True)
class Branch:
    """One alternative of a sweep: its weight, fixed fields and varied fields."""

    name: str
    weight: float
    fixed: Mapping[str, Any]
    vary: tuple[Vary, ...]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (:func:`load_spec`, :func:`parse_spec`)."""

    name: str
    seed: int
    count: int | None
    base: Mapping[str, Any]
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class PlannedRun:
    """One run of an expanded sweep: its id, branch, index within the branch, the
    values its varied fields took, and its resolved config."""

    id: str
    branch: str
    index: int
    values: Mapping[str, Any]
    config: RunConfig


def _error(where: str, message: str) -> ConfigError:
    return ConfigError(f"{where}: {message}")


def _number(where: str, value: Any, *, integer: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and not integer:
        ok = math.isfinite(value)
    if not ok or (integer and not isinstance(value, int)):
        raise _error(
            where, f"expected {'an integer' if integer else 'a number'}, got {show(value)}"
        )
    return value  # type: ignore[no-any-return]


def _parse_vary(where: str, field: Any, raw: Any) -> Vary:
    if not isinstance(field, str):
        raise _error(where, f"field {show(field)}: expected a dotted field name")
    here = f"{where} field '{clip(field)}'"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise _error(here, f"expected one of {{{', '.join(DISTRIBUTIONS)}: ...}}, got {show(raw)}")
    ((kind, args),) = raw.items()
    if kind not in DISTRIBUTIONS:
        raise _error(here, f"unknown variation {show(kind)}; allowed: {', '.join(DISTRIBUTIONS)}")
    if not isinstance(args, list | tuple) or not args:
        raise _error(here, f"{kind}: expected a non-empty list, got {show(args)}")
    if kind in ("choice", "grid"):
        return Vary(field, kind, tuple(args))
    if kind in ("logspace", "linspace"):
        if len(args) != 3:
            raise _error(here, f"{kind}: expected [lo, hi, n], got {show(args)}")
        lo, hi = (_number(here, v) for v in args[:2])
        n = int(_number(here, args[2], integer=True))
        if n < 1 or n > MAX_RUNS:
            raise _error(here, f"{kind}: n must be in [1, {MAX_RUNS:,}], got {n}")
    else:
        if len(args) != 2:
            raise _error(here, f"{kind}: expected [lo, hi], got {show(args)}")
        lo, hi = (_number(here, v, integer=kind == "randint") for v in args)
        n = 0
    if hi < lo:
        raise _error(here, f"{kind}: expected lo <= hi, got {show(list(args))}")
    if kind in ("loguniform", "logspace") and lo <= 0:
        raise _error(here, f"{kind}: expected lo > 0, got {show(lo)}")
    return Vary(field, kind, (lo, hi, n) if kind in GRIDS else (lo, hi))


def _table(where: str, raw: Any, what: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _error(where, f"{what}: expected a table, got {show(raw)}")
    return raw


def _dotted(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping of dotted field names to values as the nested mapping of a config."""
    nested: dict[str, Any] = {}
    for path, value in fields.items():
        node = nested
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


def parse_spec(raw: Any, where: str = "sweep spec") -> SweepSpec:
    """Validate a sweep spec mapping (:mod:`driftlab.sweep.spec`); raises one-line
    :class:`ConfigError` naming ``where`` and the field."""
    raw = _table(where, raw, "the spec")
    unknown = [k for k in raw if k not in SPEC_KEYS]
    if unknown:
        raise _error(where, f"unknown key {show(unknown[0])}; allowed: {', '.join(SPEC_KEYS)}")
    name = raw.get("name", "sweep")
    if not isinstance(name, str) or not name:
        raise _error(where, f"name: expected a non-empty string, got {show(name)}")
    seed = int(_number(f"{where} seed", raw.get("seed", 0), integer=True))
    count = raw.get("count")
    if count is not None:
        count = int(_number(f"{where} count", count, integer=True))
        if not 1 <= count <= MAX_RUNS:
            raise _error(where, f"count: must be in [1, {MAX_RUNS:,}], got {count}")
    base = _table(where, raw.get("base"), "base")
    shared = [_parse_vary(where, f, v) for f, v in _table(where, raw.get("vary"), "vary").items()]
    branches_raw = _table(where, raw.get("branches"), "branches") or {"all": {}}
    branches = []
    for bname, braw in branches_raw.items():
        here = f"{where} branch '{clip(str(bname))}'"
        braw = _table(here, braw, "the branch")
        unknown = [k for k in braw if k not in BRANCH_KEYS]
        if unknown:
            raise _error(here, f"unknown key {show(unknown[0])}; allowed: {', '.join(BRANCH_KEYS)}")
        weight = _number(f"{here} weight", braw.get("weight", 1))
        if weight <= 0:
            raise _error(here, f"weight: must be > 0, got {show(weight)}")
        fixed = dict(_table(here, braw.get("set"), "set"))
        odd = [f for f in fixed if not isinstance(f, str)]
        if odd:
            raise _error(here, f"set: field {show(odd[0])}: expected a dotted field name")
        own = [_parse_vary(here, f, v) for f, v in _table(here, braw.get("vary"), "vary").items()]
        clash = [f for f in fixed if f in {v.field for v in own}]
        if clash:
            raise _error(here, f"field '{clip(str(clash[0]))}' is both set and varied")
        # a branch's own setting or variation of a field replaces the shared variation
        inherited = [v for v in shared if v.field not in fixed]
        vary = tuple({v.field: v for v in (*inherited, *own)}.values())
        branches.append(Branch(str(bname), float(weight), fixed, vary))
    spec = SweepSpec(name, seed, count, base, tuple(branches))
    for branch in spec.branches:  # every value a field may take must make a valid config
        first = {v.field: v.probes()[0] for v in branch.vary}
        probes = [first] + [{**first, v.field: p} for v in branch.vary for p in v.probes()[1:]]
        for probe in probes:
            try:
                parse_config(merge(dict(base), _dotted({**branch.fixed, **probe})))
            except ConfigError as err:
                raise _error(f"{where} branch '{clip(branch.name)}'", str(err)) from None
    return spec


SWEEP_PRESETS: tuple[str, ...] = ("table1", "noise_scan", "update_vs_label", "hessians")
"""The paper's sweeps, shipped as specs (``src/driftlab/presets/sweeps``)."""


def load_spec(
    source: str | Path,
    *,
    steps: int | None = None,
    count: int | None = None,
    fields: Mapping[str, Any] | None = None,
) -> SweepSpec:
    """Read and validate a sweep spec: a file (YAML or TOML), or the name of one of
    :data:`SWEEP_PRESETS`. ``steps`` replaces every run's ``train.steps`` and
    ``count`` the spec's count (to shrink a sweep for a laptop); ``fields`` ({dotted
    field: value}) are merged into the spec's base config."""
    if isinstance(source, str) and source in SWEEP_PRESETS and not Path(source).exists():
        allowed = [f"sweeps/{name}" for name in SWEEP_PRESETS]
        raw = load_named_preset(f"sweeps/{source}", allowed)
        where = f"sweep preset '{source}'"
    else:
        raw = load_file(source)
        where = f"sweep spec '{clip(str(source), 120, tail=True)}'"
    if steps is not None:
        base = raw.get("base")
        base = dict(base) if isinstance(base, Mapping) else {}
        raw = {**raw, "base": merge(base, {"train": {"steps": steps}})}
    if count is not None:
        raw = {**raw, "count": count}
    if fields:
        stored = raw.get("base")
        stored = dict(stored) if isinstance(stored, Mapping) else {}
        raw = {**raw, "base": merge(stored, _dotted(fields))}
    return parse_spec(raw, where)


def unit_draw(seed: int, branch: str, index: int, field: str) -> float:
    """A number in [0, 1) made from the SHA-256 of (seed, branch, index, field): the
    same on any machine, independent of every other draw."""
    digest = hashlib.sha256(f"{seed}\x00{branch}\x00{index}\x00{field}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def branch_counts(spec: SweepSpec) -> list[int]:
    """How many runs each branch gets: ``count`` shared in proportion to the weights
    by largest remainder (ties to the earlier branch), or each branch's grid size."""
    sizes = [_grid_size(b) for b in spec.branches]
    if spec.count is None:
        return sizes
    total = sum(b.weight for b in spec.branches)
    shares = [spec.count * b.weight / total for b in spec.branches]
    counts = [math.floor(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: spec.count - sum(counts)]:
        counts[i] += 1
    return counts


def _grid_size(branch: Branch) -> int:
    return math.prod(len(v.grid_values()) for v in branch.vary if v.is_grid)


def expand(spec: SweepSpec) -> list[PlannedRun]:
    """The runs of ``spec``, in a fixed order (branch by branch), each with its
    resolved config and id; a config listed twice is kept once."""
    counts = branch_counts(spec)
    if sum(counts) > MAX_RUNS:
        raise ConfigError(
            f"sweep spec: {sum(counts):,} runs, more than the {MAX_RUNS:,} a sweep may list"
        )
    explicit_seed = "seed" in spec.base
    runs: list[PlannedRun] = []
    seen: set[str] = set()
    for branch, count in zip(spec.branches, counts, strict=True):
        grids = [v for v in branch.vary if v.is_grid]
        points = list(itertools.product(*(v.grid_values() for v in grids)))
        seeded = (
            explicit_seed or "seed" in branch.fixed or any(v.field == "seed" for v in branch.vary)
        )
        if count < len(points):  # a shrunken grid: a random subset, without repeats
            shuffled = sorted(points, key=lambda p: unit_draw(spec.seed, "", 0, repr(p)))
            points = shuffled[:count]
        for j in range(count):
            values = dict(zip((v.field for v in grids), points[j % len(points)], strict=True))
            for v in branch.vary:
                if not v.is_grid:
                    values[v.field] = v.draw(unit_draw(spec.seed, branch.name, j, v.field))
            if not seeded:
                values["seed"] = j
            fields = {**branch.fixed, **values}
            try:
                config = parse_config(merge(dict(spec.base), _dotted(fields)))
            except ConfigError as err:
                raise ConfigError(
                    f"sweep spec branch '{clip(branch.name)}' run {j}: {err}"
                ) from None
            run_id = config_digest(config)[:ID_DIGITS]
            if run_id in seen:
                continue
            seen.add(run_id)
            runs.append(PlannedRun(run_id, branch.name, j, values, config))
    return runs


def describe(runs: Sequence[PlannedRun]) -> list[str]:
    """One line per run: id, branch, index, the values of its varied fields."""
    lines = []
    for run in runs:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in run.values.items())
        lines.append(f"{run.id}  {run.branch}[{run.index}]  {shown}")
    return lines


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
