"""Run configuration: validated once, at the edge, into frozen typed objects.

A config is a nested mapping (YAML or TOML file, preset, ``--set key=value``
overrides) turned into :class:`RunConfig` by :func:`parse_config`. Every error
names the field and what is allowed, as one line (:class:`ConfigError`).

Batch fields (``seed``, ``train.lr``, ``noise.update.sd``, ``noise.label.sd``,
``noise.label.width``, ``noise.input.sd``) take one value or a list; the run
trains one network for every combination (their Cartesian product), all in one
compiled program; at most :data:`MAX_NETWORKS` of them.

Every numeric field of both models has a lower and an upper bound, and what a
run would take is estimated from its config before anything is allocated
(:func:`estimate_resources`, :class:`Resources`); :func:`check_resources` refuses
a run this machine's memory cannot hold. Bad input of any kind (a file that is
not UTF-8, a key given twice, nesting too deep, a number too large) is one
:class:`ConfigError` line, never a traceback.

The machinery both models share: :mod:`driftlab.config.schema` (field checks,
bounds, :func:`config_hash`), :mod:`driftlab.config.layers` (presets, files,
``--set``) and :mod:`driftlab.config.resources` (memory and disk of a run).
:mod:`driftlab.config.feedforward` is the feed-forward model's :class:`RunConfig`;
the Hebbian model's config is ``driftlab.hebbian.config``.
"""

from driftlab.config.feedforward import (
    BATCH_FIELDS,
    HESSIAN_METHODS,
    LABEL_KINDS,
    MAX_TILES,
    PRESETS,
    TASKS,
    UPDATE_FORMS,
    HessianRecord,
    InputNoise,
    LabelNoise,
    ModelConfig,
    NoiseConfig,
    RecordConfig,
    RunConfig,
    TaskConfig,
    TrainConfig,
    UpdateNoise,
    config_layers,
    describe_noise,
    estimate_resources,
    load_preset,
    parse_config,
    resolve,
)
from driftlab.config.layers import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    StrictLoader,
    apply_override,
    field_source,
    load_file,
    merge,
)
from driftlab.config.resources import (
    Resources,
    check_resources,
    physical_memory,
)
from driftlab.config.schema import (
    DTYPES,
    HASH_VERSION,
    MAX_NETWORKS,
    MAX_RECORDS,
    MAX_SAMPLES,
    MAX_SCALE,
    MAX_STEPS,
    MAX_UNITS,
    ConfigError,
    build_section,
    canonical_dict,
    check_networks,
    clip,
    config_digest,
    config_hash,
    field_error,
    first_difference,
    show,
    show_bytes,
    to_dict,
)
from driftlab.tasks.abstract import AbstractParams
from driftlab.tasks.corridor import CorridorParams

__all__ = [
    "BATCH_FIELDS",
    "DTYPES",
    "HASH_VERSION",
    "HESSIAN_METHODS",
    "LABEL_KINDS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NETWORKS",
    "MAX_NODES",
    "MAX_RECORDS",
    "MAX_SAMPLES",
    "MAX_SCALE",
    "MAX_STEPS",
    "MAX_TILES",
    "MAX_UNITS",
    "PRESETS",
    "TASKS",
    "UPDATE_FORMS",
    "AbstractParams",
    "ConfigError",
    "CorridorParams",
    "HessianRecord",
    "InputNoise",
    "LabelNoise",
    "ModelConfig",
    "NoiseConfig",
    "RecordConfig",
    "Resources",
    "RunConfig",
    "StrictLoader",
    "TaskConfig",
    "TrainConfig",
    "UpdateNoise",
    "apply_override",
    "build_section",
    "canonical_dict",
    "check_networks",
    "check_resources",
    "clip",
    "config_digest",
    "config_hash",
    "config_layers",
    "describe_noise",
    "estimate_resources",
    "field_error",
    "field_source",
    "first_difference",
    "load_file",
    "load_preset",
    "merge",
    "parse_config",
    "physical_memory",
    "resolve",
    "show",
    "show_bytes",
    "to_dict",
]
