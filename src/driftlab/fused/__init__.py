"""The fused CPU engine: a chunk of noisy learning steps of one network compiled by numba.

:mod:`driftlab.fused.noise`  the engine's counter-based noise stream, bit for bit
:mod:`driftlab.fused.step`   the step loop (paper eq. 1-3, 5, 6), products by BLAS
:mod:`driftlab.fused.chunk`  the same call as :func:`driftlab.simulate.make_chunk`

:mod:`driftlab.engines` decides when it runs (``--engine``); the JAX engine of
:mod:`driftlab.simulate` stays the reference it is tested against
(tests/test_fused.py).
"""
