"""Benchmark (reported, not a test): many small meta-analyses with evidence.meta.batch.

10,000 meta-analyses of k = 5 studies, fitted with DL and with REML by
``batch``, by a Python loop over statsmodels' ``combine_effects`` (DL; it has
no REML) and, when R with metafor is installed, by a loop over metafor's
``rma`` inside one Rscript process (only the loop is timed, not R's start-up).
Same data, same machine, same run; printed as times (median of ``--repeat``
runs for batch, DL and REML interleaved so both see the same load) and ratios.

Run: .venv/bin/python benchmarks/bench_meta.py [--m 10000] [--k 5] [--repeat 7] [--no-metafor]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from evidence.meta import batch

R_LOOP = """
suppressMessages(library(metafor))
y <- as.matrix(read.csv("{y}", header = FALSE)); v <- as.matrix(read.csv("{v}", header = FALSE))
for (method in c("DL", "REML")) {{
  t <- system.time(for (i in seq_len(nrow(y))) rma(y[i, ], v[i, ], method = method))[["elapsed"]]
  cat(method, t, "\\n")
}}
"""


def data(m, k, seed=1):
    rng = np.random.default_rng(seed)
    vi = 4.0 / rng.integers(20, 101, size=(m, k))
    yi = rng.normal(0.2, np.sqrt(vi + 0.05))
    return yi, vi


def median_times(fns, repeat):
    """Median seconds of each function over ``repeat`` rounds, the functions interleaved."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [float(np.median(ts)) for ts in times]


def once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def statsmodels_loop(yi, vi):
    import warnings

    from statsmodels.stats.meta_analysis import combine_effects

    warnings.simplefilter("ignore", RuntimeWarning)  # its unfloored DL tau² < 0 gives NaN se
    for y, v in zip(yi, vi, strict=True):
        combine_effects(y, v, method_re="chi2").conf_int()


def metafor_loop(yi, vi):
    """Seconds for the metafor loops (DL, REML), or None when R/metafor is absent."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        y, v, script = Path(tmp, "y.csv"), Path(tmp, "v.csv"), Path(tmp, "loop.R")
        np.savetxt(y, yi, delimiter=",", fmt="%.17g")
        np.savetxt(v, vi, delimiter=",", fmt="%.17g")
        script.write_text(R_LOOP.format(y=y, v=v))
        proc = subprocess.run(["Rscript", str(script)], capture_output=True, text=True)
    if proc.returncode != 0:
        print("metafor loop failed:", proc.stderr.strip().splitlines()[-1:])
        return None
    return {line.split()[0]: float(line.split()[1]) for line in proc.stdout.splitlines() if line.strip()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=10_000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-metafor", action="store_true", help="skip the (slow) metafor loop")
    args = ap.parse_args(argv)
    yi, vi = data(args.m, args.k)
    batch(yi, vi, method="REML")  # warm-up: imports, first allocations
    t_dl, t_reml = median_times([lambda: batch(yi, vi, method="DL"),
                                 lambda: batch(yi, vi, method="REML")], args.repeat)
    t_sm = once(lambda: statsmodels_loop(yi, vi))
    print(f"{args.m:,} meta-analyses of k = {args.k}; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}; batch: median of {args.repeat}")
    print(f"  batch DL            {t_dl:8.4f} s")
    print(f"  batch REML          {t_reml:8.4f} s   (REML / DL = {t_reml / t_dl:.1f}x)")
    print(f"  statsmodels loop DL {t_sm:8.3f} s   (batch DL {t_sm / t_dl:,.0f}x faster, "
          f"batch REML {t_sm / t_reml:,.0f}x faster)")
    r = None if args.no_metafor else metafor_loop(yi, vi)
    if args.no_metafor:
        print("  metafor loop        skipped (--no-metafor)")
    elif r is None:
        print("  metafor loop        R with metafor is absent: not timed")
    else:
        print(f"  metafor loop DL     {r['DL']:8.3f} s   (batch DL {r['DL'] / t_dl:,.0f}x faster)")
        print(f"  metafor loop REML   {r['REML']:8.3f} s   (batch REML {r['REML'] / t_reml:,.0f}x faster)")


if __name__ == "__main__":
    main()
