"""The fused CPU step: a whole chunk of noisy learning steps of one network in one
compiled loop, the parameters in one flat buffer, the five products by BLAS.

The same step as :func:`driftlab.simulate.make_step` (paper eq. 1-3, 5, 6; the
rules of :mod:`driftlab.rules`), written out for the CPU:

    x~ = x[batch] + s_in xi_in,  y~ = y[batch] + s_lab xi_lab (or w (u - 1/2))
    z = x~ m^T + b,  h = act(z),  e = 2 (h n^T - y~) / (samples d_out)
    dL/dn = e^T h,  dz = (e n) * act'(z),  dL/dm = dz^T x~,  dL/db = sum_samples dz
    g~ = g + s xi                      (update noise, form "gradient")
    theta <- theta + rule(g~)          (gd: - lr g~; adam; rmsprop; sed)
    theta <- theta + s xi              (update noise, form "parameter")

theta = (m, b, n) flattened in that order is the layout of the engine's noise
draw (one normal vector of the parameters' total size per step and purpose), so
the noise is added in one pass over theta. The noise is the engine's own counter
stream (:mod:`driftlab.fused.noise`), bit for bit; the products are BLAS calls
(numba's ``np.dot``) on views of theta, whose summation order differs from
XLA's, so the two engines agree to rounding, not bit for bit.

Codes (the Python side, :mod:`driftlab.fused.chunk`, translates the engine spec):
activation ``ACTIVATIONS``, rule ``RULES``; ``consts`` holds the run's floats in
its float type (``CONST_*`` indices) so that no arithmetic leaves that type.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from driftlab.fused.noise import fill_normal, fill_uniform, scratch_size

ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "sigmoid", "leaky_relu", "softplus")
RULES: tuple[str, ...] = ("gd", "adam", "rmsprop", "sed", "sed_normalised")

# indices into ``consts``
CONST_LR, CONST_UPDATE_SD, CONST_LABEL_SCALE, CONST_INPUT_SD = 0, 1, 2, 3
CONST_B1, CONST_B2, CONST_EPS, CONST_DECAY = 4, 5, 6, 7
CONST_LEAK, CONST_ONE, CONST_ZERO, CONST_ERR_SCALE = 8, 9, 10, 11
CONST_SED_HIDDEN, CONST_SED_OUT = 12, 13  # sed's sigma / sqrt(rows) of (m, b) and of n
N_CONSTS = 14

# indices into ``flags``
FLAG_ACTIVATION, FLAG_RULE, FLAG_UPDATE_NOISE, FLAG_PARAMETER_FORM = 0, 1, 2, 3
FLAG_LABEL_NOISE, FLAG_UNIFORM_LABEL, FLAG_INPUT_NOISE, FLAG_BATCH = 4, 5, 6, 7
N_FLAGS = 8

# rows of ``seeds`` (driftlab.simulate.Streams order)
STREAM_UPDATE, STREAM_LABEL, STREAM_INPUT, STREAM_RULE, STREAM_BATCH = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True, error_model="numpy")
def _activate(z: np.ndarray, h: np.ndarray, code: int, consts: np.ndarray) -> None:
    """h = act(z), elementwise (flat views)."""
    zero, one = consts[CONST_ZERO], consts[CONST_ONE]
    if code == 0:
        for i in range(z.size):
            h[i] = z[i] if z[i] > zero else zero
    elif code == 1:
        for i in range(z.size):
            h[i] = np.tanh(z[i])
    elif code == 2:
        for i in range(z.size):
            h[i] = one / (one + np.exp(-z[i]))
    elif code == 3:
        leak = consts[CONST_LEAK]
        for i in range(z.size):
            h[i] = z[i] if z[i] >= zero else leak * z[i]
    else:
        for i in range(z.size):
            v = z[i]
            h[i] = (v if v > zero else zero) + np.log1p(np.exp(-abs(v)))


@njit(cache=True, nogil=True, error_model="numpy")
def _activate_back(
    z: np.ndarray, h: np.ndarray, dh: np.ndarray, code: int, consts: np.ndarray
) -> None:
    """dh <- dh * act'(z) in place (flat views); h = act(z)."""
    zero, one = consts[CONST_ZERO], consts[CONST_ONE]
    if code == 0:
        for i in range(z.size):
            dh[i] = dh[i] if z[i] > zero else zero
    elif code == 1:
        for i in range(z.size):
            dh[i] = (dh[i] + dh[i] * h[i]) * (one - h[i])
    elif code == 2:
        for i in range(z.size):
            dh[i] = dh[i] * h[i] * (one - h[i])
    elif code == 3:
        leak = consts[CONST_LEAK]
        for i in range(z.size):
            dh[i] = dh[i] if z[i] >= zero else leak * dh[i]
    else:
        for i in range(z.size):
            dh[i] = dh[i] / (one + np.exp(-z[i]))


@njit(cache=True, nogil=True, error_model="numpy")
def _loss(
    theta: np.ndarray,
    dims: tuple[int, int, int],
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    h: np.ndarray,
    out: np.ndarray,
    code: int,
    consts: np.ndarray,
) -> float:
    """mean((act(x m^T + b) n^T - y)^2) (paper eq. 2), using z, h, out as buffers."""
    hidden, d_in, d_out = dims
    m = theta[: hidden * d_in].reshape((hidden, d_in))
    b = theta[hidden * d_in : hidden * d_in + hidden]
    n = theta[hidden * d_in + hidden :].reshape((d_out, hidden))
    np.dot(x, m.T, z)
    z += b
    _activate(z.reshape(z.size), h.reshape(h.size), code, consts)
    np.dot(h, n.T, out)
    out -= y
    total = consts[CONST_ZERO]
    for v in out.reshape(out.size):
        total += v * v
    return total / out.size  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, error_model="numpy")
def run_chunk(
    theta: np.ndarray,
    state1: np.ndarray,
    state2: np.ndarray,
    count: np.ndarray,
    x_all: np.ndarray,
    y_all: np.ndarray,
    dims: tuple[int, int, int],
    t0: int,
    steps: int,
    seeds: np.ndarray,
    consts: np.ndarray,
    flags: np.ndarray,
    batch_size: int,
) -> None:
    """Advance one network ``steps`` steps from step ``t0``, in place.

    theta (P,): m, b, n flattened; state1, state2 (P,): the rule's moments (adam:
    mu, nu; rmsprop: nu in state1); count (1,) int32: adam's step count;
    x_all (samples, d_in), y_all (samples, d_out): the clean data; seeds (5, 2)
    uint32: the noise streams; ``batch_size``: samples a step (< samples: a
    mini-batch without replacement, the samples of the smallest uniforms).
    """
    hidden, d_in, d_out = dims
    dtype_zero = consts[CONST_ZERO]
    n_params = theta.size
    act, rule = flags[FLAG_ACTIVATION], flags[FLAG_RULE]
    samples_all = x_all.shape[0]
    batched = flags[FLAG_BATCH] == 1
    samples = batch_size if batched else samples_all
    lr, update_sd = consts[CONST_LR], consts[CONST_UPDATE_SD]
    label_scale, input_sd = consts[CONST_LABEL_SCALE], consts[CONST_INPUT_SD]
    one, err_scale = consts[CONST_ONE], consts[CONST_ERR_SCALE]
    input_noise = flags[FLAG_INPUT_NOISE] == 1
    copy_data = batched or input_noise or flags[FLAG_LABEL_NOISE] == 1

    # buffers
    x_buf = np.empty((samples, d_in), theta.dtype)
    y_buf = np.empty((samples, d_out), theta.dtype)
    x, y = (x_buf, y_buf) if copy_data else (x_all, y_all)
    z = np.empty((samples, hidden), theta.dtype)
    h = np.empty((samples, hidden), theta.dtype)
    dh = np.empty((samples, hidden), theta.dtype)
    err = np.empty((samples, d_out), theta.dtype)
    grad = np.zeros(n_params, theta.dtype)
    moved = np.empty(n_params, theta.dtype)
    biggest = max(n_params, samples_all * max(d_in, d_out))
    xi = np.empty(biggest, np.float32)
    pert = np.empty(n_params if rule >= 3 else 0, np.float32)
    tmp = np.empty(2, theta.dtype)  # float64 -> the run's type
    scratch = np.empty(scratch_size(biggest), np.float32)
    uni = np.empty(samples_all, np.float32)
    uni_scratch = np.empty(samples_all, np.float32)
    cut_m, cut_b = hidden * d_in, hidden * d_in + hidden
    m, b = theta[:cut_m].reshape((hidden, d_in)), theta[cut_m:cut_b]
    n = theta[cut_b:].reshape((d_out, hidden))
    g_m, g_b = grad[:cut_m].reshape((hidden, d_in)), grad[cut_m:cut_b]
    g_n = grad[cut_b:].reshape((d_out, hidden))
    # per-tensor perturbation scales of the sed rules: sigma / sqrt(rows)
    sed_scale = np.empty(n_params, theta.dtype)
    sed_scale[:cut_b] = consts[CONST_SED_HIDDEN]
    sed_scale[cut_b:] = consts[CONST_SED_OUT]

    for t in range(t0, t0 + steps):
        # --- the step's data: mini-batch, input noise, label noise
        if batched:
            fill_uniform(seeds[STREAM_BATCH], t, uni, uni_scratch)
            pick = np.argsort(uni, kind="mergesort")[:samples]
            for i in range(samples):
                x[i] = x_all[pick[i]]
                y[i] = y_all[pick[i]]
        elif copy_data:
            x[:] = x_all
            y[:] = y_all
        if input_noise:
            noise_x = xi[: x.size]
            fill_normal(seeds[STREAM_INPUT], t, noise_x, scratch)
            xf = x.reshape(x.size)
            for i in range(xf.size):
                xf[i] = xf[i] + input_sd * noise_x[i]
        if flags[FLAG_LABEL_NOISE] == 1:
            noise_y = xi[: y.size]
            yf = y.reshape(y.size)
            if flags[FLAG_UNIFORM_LABEL] == 1:
                fill_uniform(seeds[STREAM_LABEL], t, noise_y, scratch)
                for i in range(yf.size):
                    yf[i] = yf[i] + label_scale * (noise_y[i] - np.float32(0.5))
            else:
                fill_normal(seeds[STREAM_LABEL], t, noise_y, scratch)
                for i in range(yf.size):
                    yf[i] = yf[i] + label_scale * noise_y[i]

        # --- the gradient (model.mse_grad); none for the sed rules
        if rule < 3:
            np.dot(x, m.T, z)
            z += b
            _activate(z.reshape(z.size), h.reshape(h.size), act, consts)
            np.dot(h, n.T, err)
            err -= y
            err *= err_scale
            np.dot(err.T, h, g_n)
            np.dot(err, n, dh)
            _activate_back(z.reshape(z.size), h.reshape(h.size), dh.reshape(dh.size), act, consts)
            np.dot(dh.T, x, g_m)
            for j in range(hidden):
                g_b[j] = dtype_zero
            for i in range(samples):
                for j in range(hidden):
                    g_b[j] += dh[i, j]

        noise_p = xi[:n_params]
        if flags[FLAG_UPDATE_NOISE] == 1:
            fill_normal(seeds[STREAM_UPDATE], t, noise_p, scratch)
            if flags[FLAG_PARAMETER_FORM] == 0 and rule < 3:
                for i in range(n_params):
                    grad[i] = grad[i] + update_sd * noise_p[i]

        # --- the rule (optax's update, then apply_updates: theta + update)
        neg_lr = -lr
        if rule == 0:
            for i in range(n_params):
                theta[i] = theta[i] + neg_lr * grad[i]
        elif rule == 1:
            b1, b2, eps = consts[CONST_B1], consts[CONST_B2], consts[CONST_EPS]
            count[0] += 1
            tmp[0] = 1.0 - float(b1) ** count[0]
            tmp[1] = 1.0 - float(b2) ** count[0]
            bc1, bc2 = tmp[0], tmp[1]
            for i in range(n_params):
                g = grad[i]
                mu = (one - b1) * g + b1 * state1[i]
                nu = (one - b2) * (g * g) + b2 * state2[i]
                state1[i], state2[i] = mu, nu
                theta[i] = theta[i] + neg_lr * ((mu / bc1) / (np.sqrt(nu / bc2) + eps))
        elif rule == 2:
            decay, eps = consts[CONST_DECAY], consts[CONST_EPS]
            for i in range(n_params):
                g = grad[i]
                nu = (one - decay) * (g * g) + decay * state1[i]
                state1[i] = nu
                theta[i] = theta[i] + neg_lr * ((one / (np.sqrt(nu) + eps)) * g)
        else:
            # stochastic error descent: theta + lr (L(theta + xi) - L(theta)) xi (paper eq. 5)
            fill_normal(seeds[STREAM_RULE], t, pert, scratch)
            for i in range(n_params):
                moved[i] = theta[i] + sed_scale[i] * pert[i]
            delta = _loss(moved, dims, x, y, z, h, err, act, consts) - _loss(
                theta, dims, x, y, z, h, err, act, consts
            )
            factor = neg_lr * delta
            for i in range(n_params):
                d = sed_scale[i] * pert[i]
                if rule == 4:
                    d = d / (sed_scale[i] * sed_scale[i])
                theta[i] = theta[i] + factor * d
        if flags[FLAG_UPDATE_NOISE] == 1 and flags[FLAG_PARAMETER_FORM] == 1:
            for i in range(n_params):
                theta[i] = theta[i] + update_sd * noise_p[i]
