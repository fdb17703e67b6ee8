"""Learning rules as optax-style transformations: ``init(params)``, ``update(grads, state,
params, *, loss_fn, perturbation) -> (updates, state)``.

Every rule takes its learning rate as a (possibly traced) value, so a batch of
networks can train with one rate each. The engine passes two extra arguments that
most rules ignore: ``loss_fn`` (the step's loss as a function of the parameters)
and ``perturbation`` (standard normals shaped like the parameters, from the
rule's own noise stream, drawn only for rules that ask for them).

Built in (``train.rule``):

``gd``        full-batch gradient descent, theta <- theta - lr grad (the paper's "SGD":
              every step sees every sample; Ratzon et al. 2023, eq. 3 without noise).
``sgd``       the same update on a mini-batch of ``train.batch_size`` samples drawn
              without replacement each step (0: the full batch, i.e. ``gd``).
``adam``      Adam (Kingma & Ba 2014), optax defaults (b1 0.9, b2 0.999, eps 1e-8).
``rmsprop``   RMSprop (Hinton 2012) as PyTorch computes it, whose defaults the authors
              used: decay 0.99, eps 1e-8 added outside the square root.
``sed``       stochastic error descent (Cauwenberghs 1992; paper eq. 5):
              theta <- theta - lr (L(theta + xi) - L(theta)) xi, with xi ~ N(0, s_k^2)
              per parameter tensor k, s_k = sigma / sqrt(rows of k) (the authors' code,
              sigma = ``train.sed_sigma`` = 0.1). No gradient is computed.
``sed_normalised``  the same divided by the perturbation variance,
              theta <- theta - lr (L(theta + xi) - L(theta)) xi / s_k^2, whose mean is
              lr times the gradient (to first order).

Plugging in a rule of your own::

    import optax
    from driftlab import rules

    def sign_gd(lr, **_):
        # theta <- theta - lr sign(grad)
        return rules.ignore_extra_args(
            optax.chain(optax.scale_by_sign(), optax.scale_by_learning_rate(lr))
        )

    rules.register_rule("sign_gd", sign_gd)
    # then: driftlab run --set train.rule=sign_gd  (in a process that registered it)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax

RuleFactory = Callable[..., optax.GradientTransformationExtraArgs]


@dataclass(frozen=True)
class RuleInfo:
    """A registered rule: its factory ``factory(lr, **options)`` and what it needs."""

    factory: RuleFactory
    uses_gradient: bool = True
    needs_perturbation: bool = False


def ignore_extra_args(tx: optax.GradientTransformation) -> optax.GradientTransformationExtraArgs:
    """Wrap a plain optax transformation so it accepts (and ignores) the engine's extras."""
    return optax.with_extra_args_support(tx)


def gd(lr: jax.Array | float, **_: Any) -> optax.GradientTransformationExtraArgs:
    """Gradient descent: update = -lr * grad (``optax.sgd`` without momentum)."""
    return ignore_extra_args(optax.sgd(learning_rate=lr))


def adam(lr: jax.Array | float, **_: Any) -> optax.GradientTransformationExtraArgs:
    """Adam with optax's defaults (b1 0.9, b2 0.999, eps 1e-8)."""
    return ignore_extra_args(optax.adam(learning_rate=lr))


def rmsprop(lr: jax.Array | float, **_: Any) -> optax.GradientTransformationExtraArgs:
    """RMSprop as PyTorch computes it: nu <- 0.99 nu + 0.01 g^2,
    update = -lr g / (sqrt(nu) + 1e-8) (eps outside the root), no momentum."""
    return ignore_extra_args(
        optax.rmsprop(learning_rate=lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    )


def _sed(
    lr: jax.Array | float, sigma: float, normalised: bool
) -> optax.GradientTransformationExtraArgs:
    def init(params: Any) -> optax.EmptyState:
        return optax.EmptyState()

    def update(
        grads: Any,
        state: optax.EmptyState,
        params: Any = None,
        *,
        loss_fn: Callable[[Any], jax.Array],
        perturbation: Any,
        **_: Any,
    ) -> tuple[Any, optax.EmptyState]:
        scales = jax.tree.map(lambda p: sigma / jnp.sqrt(p.shape[0]), params)
        xi = jax.tree.map(lambda z, s: s * z, perturbation, scales)
        moved = jax.tree.map(lambda p, d: p + d, params, xi)
        delta = loss_fn(moved) - loss_fn(params)
        if normalised:
            xi = jax.tree.map(lambda d, s: d / (s * s), xi, scales)
        updates = jax.tree.map(lambda d: (-lr * delta * d).astype(d.dtype), xi)
        return updates, state

    return optax.GradientTransformationExtraArgs(init, update)  # type: ignore[arg-type]


def sed(
    lr: jax.Array | float, *, sed_sigma: float = 0.1, **_: Any
) -> optax.GradientTransformationExtraArgs:
    """Stochastic error descent, paper eq. 5 (see the module docstring)."""
    return _sed(lr, sed_sigma, normalised=False)


def sed_normalised(
    lr: jax.Array | float, *, sed_sigma: float = 0.1, **_: Any
) -> optax.GradientTransformationExtraArgs:
    """Stochastic error descent divided by the perturbation variance."""
    return _sed(lr, sed_sigma, normalised=True)


RULES: dict[str, RuleInfo] = {
    "gd": RuleInfo(gd),
    "sgd": RuleInfo(gd),
    "adam": RuleInfo(adam),
    "rmsprop": RuleInfo(rmsprop),
    "sed": RuleInfo(sed, uses_gradient=False, needs_perturbation=True),
    "sed_normalised": RuleInfo(sed_normalised, uses_gradient=False, needs_perturbation=True),
}


def register_rule(
    name: str,
    factory: RuleFactory,
    *,
    uses_gradient: bool = True,
    needs_perturbation: bool = False,
) -> None:
    """Make ``factory(lr, **options)`` available as ``train.rule: name``.

    ``uses_gradient=False`` skips the gradient (the rule gets zeros);
    ``needs_perturbation=True`` has the engine pass standard normals shaped like
    the parameters, from the rule's noise stream, as ``perturbation``.
    """
    RULES[name] = RuleInfo(factory, uses_gradient, needs_perturbation)
