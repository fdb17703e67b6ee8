#!/usr/bin/env bash
# The GPU session's one prepared command (benchmarks/RESULTS.md keeps its output).
# Run from the repository root on the device machine, with .device/wheels carried
# (h5netcdf, which that image lacks). Writes everything under $OUT. The timeouts
# add up to under 8 minutes (issue 15).
set -uo pipefail
OUT=${OUT:-/tmp/out}
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c "import jax, optax, numpy; print('jax', jax.__version__, 'optax', optax.__version__, 'numpy', numpy.__version__, jax.devices())"
python3 -m pip install --quiet --no-deps --no-index .device/wheels/*.whl
echo "== benchmark (GPU)"
timeout 150 python3 benchmarks/bench_engine.py --gpu --seconds 1.0 --rounds 3 --json "$OUT/gpu_bench.json" 2>&1 | tee "$OUT/gpu_bench.txt"
echo "== accuracy: float32 on the GPU against float64 on the CPU (tests/test_gpu.py)"
timeout 60 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -5 | tee "$OUT/gpu_checks.txt"
echo "== test suite on jax $(python3 -c 'import jax; print(jax.__version__)'), CPU backend"
JAX_PLATFORMS=cpu timeout 110 python3 -m pytest -q -x -n 8 -p no:cacheprovider tests 2>&1 | tail -15 | tee "$OUT/pytest_cpu.txt"
echo "== engine and model tests on the GPU backend"
timeout 50 python3 -m pytest -q -p no:cacheprovider tests/test_engine.py tests/test_model.py tests/test_noise.py 2>&1 | tail -25 | tee "$OUT/pytest_gpu.txt"
echo "== sweep throughput: table1 padded into packs, one worker (benchmarks/bench_sweep.py)"
timeout 80 python3 benchmarks/bench_sweep.py --gpu --runs 1100 --steps 5000 --pack 1100 --json "$OUT/gpu_sweep.json" 2>&1 | tail -5 | tee "$OUT/gpu_sweep.txt"
