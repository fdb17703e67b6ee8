"""Run a driftlab sweep on a SLURM cluster: Dask workers in SLURM jobs (dask-jobqueue).

    python examples/slurm_sweep.py table1 --out /shared/sweeps/table1 \
        --jobs 8 --cores 16 --memory 32GiB --walltime 12:00:00 --queue normal --account mylab

starts a Dask scheduler here (the login node, or a small job of its own), submits
``--jobs`` SLURM jobs of ``--cores`` single-threaded Dask workers each (one worker per
core: the fast layout for these small networks), and runs
``driftlab sweep SPEC --scheduler ADDRESS --out OUT`` against them. ``--out`` must be
on a file system every node sees (the workers write the run directories there).
Stopped or killed, rerun the same command: finished runs are read, not recomputed.
``--dry-run`` prints the SLURM job script and submits nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", help="sweep spec file or preset (table1, noise_scan, ...)")
    parser.add_argument("--out", required=True, help="sweep directory on a shared file system")
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs (default 4)")
    parser.add_argument("--cores", type=int, default=16, help="cores per job (default 16)")
    parser.add_argument("--memory", default="32GiB", help="memory per job (default 32GiB)")
    parser.add_argument("--walltime", default="12:00:00", help="per job (default 12:00:00)")
    parser.add_argument("--queue", help="SLURM partition (-p)")
    parser.add_argument("--account", help="SLURM account (-A)")
    parser.add_argument("--dry-run", action="store_true", help="print the job script only")
    args, sweep_args = parser.parse_known_args(argv)  # the rest go to 'driftlab sweep'

    from dask_jobqueue import SLURMCluster

    cluster = SLURMCluster(
        cores=args.cores,
        processes=args.cores,  # one single-threaded worker per core
        memory=args.memory,
        walltime=args.walltime,
        queue=args.queue,
        account=args.account,
        scheduler_options={"dashboard_address": None},
    )
    try:
        if args.dry_run:
            print(cluster.job_script())
            return 0
        cluster.scale(jobs=args.jobs)
        command = ["driftlab", "sweep", args.spec, "--out", args.out]
        command += ["--scheduler", cluster.scheduler_address, *sweep_args]
        return subprocess.call(command)
    finally:
        cluster.close()


if __name__ == "__main__":
    sys.exit(main())
