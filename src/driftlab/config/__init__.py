"""Run configuration: validated once, at the edge, into frozen typed objects.

A config is a nested mapping (YAML or TOML file, preset, ``--set key=value``
overrides) turned into :class:`RunConfig` by :func:`parse_config`. Every error
names the field and what is allowed, as one line (:class:`ConfigError`).

Batch fields (``seed``, ``train.lr``, ``noise.update.sd``, ``noise.label.sd``,
``noise.label.width``, ``noise.input.sd``) take one value or a list; the run
trains one network for every combination (their Cartesian product), all in one
compiled program.

Two modules: :mod:`driftlab.config.schema`, the machinery both models share
(field checks, layers, :func:`config_hash`), and :mod:`driftlab.config.feedforward`,
the feed-forward model's :class:`RunConfig`. The Hebbian model's config is
``driftlab.hebbian.config``.
"""

from driftlab.config.feedforward import (
    HESSIAN_METHODS,
    LABEL_KINDS,
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
    load_preset,
    parse_config,
    resolve,
)
from driftlab.config.schema import (
    DTYPES,
    HASH_VERSION,
    MAX_STEPS,
    ConfigError,
    apply_override,
    build_section,
    canonical_dict,
    config_digest,
    config_hash,
    field_error,
    field_source,
    first_difference,
    load_file,
    merge,
    to_dict,
)
from driftlab.tasks.abstract import AbstractParams
from driftlab.tasks.corridor import CorridorParams

__all__ = [
    "DTYPES",
    "HASH_VERSION",
    "HESSIAN_METHODS",
    "LABEL_KINDS",
    "MAX_STEPS",
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
    "RunConfig",
    "TaskConfig",
    "TrainConfig",
    "UpdateNoise",
    "apply_override",
    "build_section",
    "canonical_dict",
    "config_digest",
    "config_hash",
    "config_layers",
    "describe_noise",
    "field_error",
    "field_source",
    "first_difference",
    "load_file",
    "load_preset",
    "merge",
    "parse_config",
    "resolve",
    "to_dict",
]
