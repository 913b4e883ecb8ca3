#!/usr/bin/env python3
"""Times torch.softmax and torch.log_softmax on CUDA on the cases of a clsoftmax-bench CSV, beside clsoftmax, as fractions of copy.

Usage: python3 bench/torch_softmax.py BENCH.csv   (from clsoftmax-bench --csv on the same GPU)

Each side is measured against its own copy over the same bytes: clsoftmax-bench against the
best OpenCL copy, torch against y.copy_(x). torch is timed twice: with CUDA events (GPU time
only), and on the wall clock around the call and a synchronize, which is how clsoftmax-bench
times, launch latency included; clsm/torch compares on that same clock.
"""
import csv
import statistics
import sys
import time

import torch

WARMUP = 3


def event_seconds(fn, reps):
    """GPU time of one call by CUDA events, median of reps after warm-up."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e-3)
    return statistics.median(times)


def wall_seconds(fn, reps):
    """Wall-clock time of one call until the GPU is done, median of reps after warm-up."""
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tensor_for(row):
    """Inputs like clsoftmax-bench's: uniform in [-10, 10), softmax along dim 1.

    Last-axis cases (inner = 1) are 2-D, so torch takes its row-wise kernels.
    """
    outer, axis, inner = (int(row[k]) for k in ("outer", "axis", "inner"))
    shape = (outer, axis) if inner == 1 else (outer, axis, inner)
    return torch.empty(shape, device="cuda", dtype=torch.float32).uniform_(-10.0, 10.0)


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.exit(__doc__)
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"torch_softmax.py: no cases in {argv[1]}")
    if not torch.cuda.is_available():
        sys.exit("torch_softmax.py: torch sees no CUDA device")

    reps = int(rows[0]["reps"])
    print(f"OpenCL: {rows[0]['device']}, driver {rows[0]['driver']} ({rows[0]['opencl']}), "
          f"clsoftmax {rows[0]['version']}")
    print(f"torch:  {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}")
    print(f"Median of {reps} runs. GB/s counts 8 bytes per element; of copy = GB/s over that "
          "side's copy GB/s.\nclsoftmax: wall clock. torch: CUDA events, and wall clock "
          "(wall). clsm/torch: clsoftmax's of copy over torch's (wall).\n")
    print(f"{'':<39}{'clsoftmax (OpenCL)':<28}{'torch':<38}")
    print(f"{'op':<11}  {'shape':<14}  {'family':<7}  {'GB/s':>7}  {'copy':>7}  {'of copy':>7}"
          f"    {'GB/s':>7}  {'copy':>7}  {'of copy':>7}  {'wall':>7}    {'clsm/torch':>10}  check")

    copy = {}
    for row in rows:
        # The backward rows (softmax_bwd, log_softmax_bwd) have no torch counterpart here.
        if row["op"] not in ("softmax", "log_softmax"):
            continue
        shape = (row["outer"], row["axis"], row["inner"])
        n = int(row["elements"])
        x = tensor_for(row)
        if shape not in copy:
            y = torch.empty_like(x)
            copy[shape] = (event_seconds(lambda: y.copy_(x), reps),
                           wall_seconds(lambda: y.copy_(x), reps))
            del y
        op = torch.softmax if row["op"] == "softmax" else torch.log_softmax
        event_s = event_seconds(lambda: op(x, dim=1), reps)
        wall_s = wall_seconds(lambda: op(x, dim=1), reps)
        del x
        torch_gbs, torch_copy_gbs = 8e-9 * n / event_s, 8e-9 * n / copy[shape][0]
        of_copy, of_copy_wall = copy[shape][0] / event_s, copy[shape][1] / wall_s
        clsm_of_copy = float(row["clsoftmax_of_copy"])
        print(f"{row['op']:<11}  {'x'.join(shape):<14}  {row['family']:<7}  "
              f"{float(row['clsoftmax_gbs']):7.1f}  {float(row['copy_gbs']):7.1f}  "
              f"{100 * clsm_of_copy:6.1f}%    {torch_gbs:7.1f}  {torch_copy_gbs:7.1f}  "
              f"{100 * of_copy:6.1f}%  {100 * of_copy_wall:6.1f}%    "
              f"{clsm_of_copy / of_copy_wall:10.2f}  {row['clsoftmax_check']}")


if __name__ == "__main__":
    main(sys.argv)
