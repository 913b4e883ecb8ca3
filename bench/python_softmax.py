#!/usr/bin/env python3
"""Times the Python package clsoftmax against scipy.special.softmax, the classic NumPy softmax and torch.softmax (CPU, if importable).

Usage: python3 bench/python_softmax.py [--quick] [--reps N]   (with clsoftmax installed: pip install .)

Prints the median call overhead on a (1, 16) float32 array, then for each shape the median
time of a float32 softmax over the last axis, its GB/s (8 bytes per element: one read and
one write) and how many times faster clsoftmax is than each of the others. Every median is
of N runs after two warm-up runs; the first clsoftmax call of a shape may compile a kernel.
"""
import argparse
import statistics
import time

import numpy as np

import clsoftmax

SHAPES = [(64, 1000), (4096, 4096), (65536, 256), (32, 262144), (262144, 32)]
QUICK_SHAPES = [(512, 512), (4096, 64), (8, 32768), (32768, 8)]
WARMUP = 2
OVERHEAD_CALLS = 2000


def numpy_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def implementations():
    """Name and function of each implementation found, clsoftmax first."""
    found = [("clsoftmax", lambda x: clsoftmax.softmax(x, axis=-1))]
    try:
        import scipy.special

        found.append(("scipy", lambda x: scipy.special.softmax(x, axis=-1)))
    except ImportError:
        pass
    found.append(("numpy", numpy_softmax))
    try:
        import torch

        found.append(("torch", lambda x: torch.softmax(torch.from_numpy(x), dim=-1)))
    except ImportError:
        pass
    return found


def median_seconds(function, x, reps):
    for _ in range(WARMUP):
        function(x)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        function(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, for a smoke run")
    parser.add_argument("--reps", type=int, default=None, help="timed runs per case")
    args = parser.parse_args()
    reps = args.reps or (5 if args.quick else 10)
    impls = implementations()
    rng = np.random.default_rng(0)

    print(f"clsoftmax {clsoftmax.__version__} on {clsoftmax.Context().device_name}")
    small = rng.standard_normal((1, 16)).astype(np.float32)
    overheads = [f"{name} {median_seconds(f, small, OVERHEAD_CALLS) * 1e6:.1f}"
                 for name, f in impls]
    print("call overhead, (1, 16) float32, median us: " + ", ".join(overheads))
    print(f"float32 softmax over the last axis, median of {reps} runs; "
          "x = how many times faster clsoftmax is")

    header = f"{'shape':>14}"
    for name, _ in impls:
        header += f" | {name + ' ms':>13} {'GB/s':>6}" + ("" if name == "clsoftmax" else f" {'x':>6}")
    print(header)
    for shape in QUICK_SHAPES if args.quick else SHAPES:
        x = rng.standard_normal(shape).astype(np.float32)
        row = f"{'x'.join(map(str, shape)):>14}"
        ours = None
        for name, function in impls:
            seconds = median_seconds(function, x, reps)
            ours = seconds if ours is None else ours
            row += f" | {seconds * 1e3:13.3f} {8 * x.size / seconds / 1e9:6.2f}"
            if name != "clsoftmax":
                row += f" {seconds / ours:6.2f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
