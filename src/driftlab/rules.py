"""Learning rules as optax-style gradient transformations (``init``, ``update``).

A rule maps the (possibly noisy) gradient to an update; noise transforms live in
:mod:`driftlab.simulate`. Rules take their learning rate as a traced value so that
a vmapped batch can train every network with its own rate.

``gd``: full-batch gradient descent, theta <- theta - lr * grad (paper eq. 3
without the noise term). The paper calls this "SGD", but every step sees every
sample.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import optax

RuleFactory = Callable[[jax.Array | float], optax.GradientTransformation]


def gd(lr: jax.Array | float) -> optax.GradientTransformation:
    """Full-batch gradient descent: update = -lr * grad (``optax.sgd`` without momentum)."""
    return optax.sgd(learning_rate=lr)


RULE_FACTORIES: dict[str, RuleFactory] = {"gd": gd}
