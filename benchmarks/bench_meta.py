"""Benchmark (reported, not a test): evidence.meta against statsmodels' combine_effects.

1. Many fits: ``batch`` on 10,000 meta-analyses (DL and REML) against a Python
   loop of statsmodels' ``combine_effects`` (``method_re="chi2"``, i.e. DL; it
   has no REML), at k = 5 and k = 40. The loop is timed on ``--loop`` rows and
   scaled per fit (the same data; a full 10,000-row loop gives the same rate).
2. One fit: ``rma`` (REML and DL, tau² CI not computed: it is lazy) against one
   ``combine_effects(...).conf_int()`` call, each over the same 200 datasets.
Each round runs every contender once, interleaved, so all see the same load;
medians of ``--repeat`` rounds. With ``--metafor`` (R with metafor installed)
also a loop of metafor's ``rma`` in one Rscript process (only the loop timed).

Run: .venv/bin/python benchmarks/bench_meta.py [--m 10000] [--loop 1000] [--repeat 7] [--metafor]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from evidence.meta import batch, rma

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


def rounds(fns, repeat):
    """Median seconds of each function over ``repeat`` rounds, the functions interleaved."""
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [float(np.median(ts)) for ts in times]


def statsmodels_loop(yi, vi):
    from statsmodels.stats.meta_analysis import combine_effects

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its unfloored DL tau² < 0 gives NaN se
        for y, v in zip(yi, vi, strict=True):
            combine_effects(y, v, method_re="chi2").conf_int()


def rma_loop(yi, vi, method):
    for y, v in zip(yi, vi, strict=True):
        rma(y, v, method=method)


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


def report_k(k, yi, vi, args):
    """Print the batch and single-fit lines for one k; return the batch times (DL, REML)."""
    batch(yi, vi, method="REML")  # warm-up: imports, first allocations
    n = min(args.loop, args.m)
    t_dl, t_reml, t_sm = rounds([lambda: batch(yi, vi, method="DL"),
                                 lambda: batch(yi, vi, method="REML"),
                                 lambda: statsmodels_loop(yi[:n], vi[:n])], args.repeat)
    sm = t_sm / n * args.m  # the loop's time for all m rows
    print(f"k = {k}: {args.m:,} fits")
    print(f"  batch DL              {t_dl:8.4f} s   {sm / t_dl:7.0f}x the statsmodels loop")
    print(f"  batch REML            {t_reml:8.4f} s   {sm / t_reml:7.0f}x the statsmodels loop")
    print(f"  statsmodels loop (DL) {sm:8.3f} s   ({n:,} rows timed, scaled)")
    one = 200
    r_reml, r_dl, c = rounds([lambda: rma_loop(yi[:one], vi[:one], "REML"),
                              lambda: rma_loop(yi[:one], vi[:one], "DL"),
                              lambda: statsmodels_loop(yi[:one], vi[:one])], args.repeat)
    print(f"  one rma REML          {r_reml / one * 1e6:8.0f} us  {r_reml / c:5.2f}x one combine_effects call")
    print(f"  one rma DL            {r_dl / one * 1e6:8.0f} us  {r_dl / c:5.2f}x one combine_effects call")
    print(f"  one combine_effects   {c / one * 1e6:8.0f} us")
    return t_dl, t_reml


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, default=10_000)
    ap.add_argument("--loop", type=int, default=1_000, help="rows for the statsmodels loop")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--metafor", action="store_true", help="also time metafor's rma (slow)")
    args = ap.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}; "
          f"medians of {args.repeat} interleaved rounds")
    for k in (5, 40):
        yi, vi = data(args.m, k)
        t_dl, t_reml = report_k(k, yi, vi, args)
        if args.metafor:
            r = metafor_loop(yi, vi)
            if r is None:
                print("  metafor loop          R with metafor is absent: not timed")
            else:
                print(f"  metafor loop DL       {r['DL']:8.3f} s   (batch DL {r['DL'] / t_dl:,.0f}x faster)")
                print(f"  metafor loop REML     {r['REML']:8.3f} s   (batch REML {r['REML'] / t_reml:,.0f}x faster)")


if __name__ == "__main__":
    main()
