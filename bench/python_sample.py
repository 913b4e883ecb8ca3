#!/usr/bin/env python3
"""Times clsoftmax.sample against the NumPy pipeline a user would write and, if importable, torch's (CPU).

Usage: python3 bench/python_sample.py [--quick] [--reps N]   (with clsoftmax installed: pip install .)

Prints the median call overhead on a (1, 16) float32 array (temperature only), then for each
shape (rows x vocabulary, float32 logits) and case the median time of drawing one token per
row, its GB/s (4 bytes per logit, read once) and how many times faster clsoftmax is than each
of the others. NumPy:
softmax, argpartition for top-k, sort and cumsum for top-p, the min-p floor, then
Generator.choice per row; torch: torch.topk or torch.sort, softmax, cumsum for top-p, then
torch.multinomial. Every median is of N runs after two warm-up runs; the first clsoftmax call
of a case may compile a kernel.
"""
import argparse
import statistics
import time

import numpy as np

import clsoftmax

SHAPES = [(64, 128256), (1, 128256), (256, 32000)]
QUICK_SHAPES = [(8, 32000), (1, 32000), (32, 4096)]
# name: temperature, top_k, top_p, min_p
CASES = {
    "greedy": (0.0, 0, 1.0, 0.0),
    "temperature": (0.8, 0, 1.0, 0.0),
    "top_k+top_p": (1.0, 50, 0.9, 0.0),
    "min_p": (1.0, 0, 1.0, 0.05),
}
WARMUP = 2
OVERHEAD_CALLS = 2000


def numpy_sample(x, rng, temperature, top_k, top_p, min_p):
    if temperature == 0:
        return np.argmax(x, axis=-1)
    u = x / np.float32(temperature)
    e = np.exp(u - u.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    # Only top-k and top-p need the order: the candidates and their probabilities, descending.
    if top_k:
        index = np.argpartition(-p, top_k - 1, axis=-1)[:, :top_k]
        order = np.argsort(-np.take_along_axis(p, index, axis=-1), axis=-1, kind="stable")
        index = np.take_along_axis(index, order, axis=-1)
    elif top_p < 1:
        index = np.argsort(-p, axis=-1, kind="stable")
    else:
        index = None
    if index is not None:
        p = np.take_along_axis(p, index, axis=-1)
    if top_p < 1:
        c = np.cumsum(p, axis=-1)
        # The shortest prefix whose mass reaches top_p: each entry whose predecessors do not.
        p = np.where(c - p < top_p * c[:, -1:], p, 0)
    if min_p > 0:
        p = np.where(p >= min_p * p.max(axis=-1, keepdims=True), p, 0)
    p = p / p.sum(axis=-1, keepdims=True)
    picks = np.array([rng.choice(p.shape[1], p=row) for row in p])
    return picks if index is None else index[np.arange(len(p)), picks]


def torch_sampler(torch):
    def sample(x, generator, temperature, top_k, top_p, min_p):
        if temperature == 0:
            return torch.argmax(x, dim=-1)
        u = x / temperature
        if top_k:
            u, index = torch.topk(u, top_k, dim=-1)
        elif top_p < 1:
            u, index = torch.sort(u, dim=-1, descending=True)
        else:
            index = None
        p = torch.softmax(u, dim=-1)
        if top_p < 1:
            c = torch.cumsum(p, dim=-1)
            p = torch.where(c - p < top_p * c[:, -1:], p, 0)
        if min_p > 0:
            p = torch.where(p >= min_p * p.amax(dim=-1, keepdim=True), p, 0)
        picks = torch.multinomial(p, 1, generator=generator)
        return (picks if index is None else index.gather(-1, picks)).squeeze(-1)

    return sample


def implementations():
    """Name and function(x, case) of each implementation found, clsoftmax first."""
    found = [("clsoftmax", lambda x, case: clsoftmax.sample(
        x, temperature=case[0], top_k=case[1], top_p=case[2], min_p=case[3]))]
    rng = np.random.default_rng(0)
    found.append(("numpy", lambda x, case: numpy_sample(x, rng, *case)))
    try:
        import torch

        generator = torch.Generator().manual_seed(0)
        sample = torch_sampler(torch)
        found.append(("torch", lambda x, case: sample(torch.from_numpy(x), generator, *case)))
    except ImportError:
        pass
    return found


def median_seconds(function, x, case, reps):
    for _ in range(WARMUP):
        function(x, case)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        function(x, case)
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
    case = CASES["temperature"]
    overheads = [f"{name} {median_seconds(f, small, case, OVERHEAD_CALLS) * 1e6:.1f}"
                 for name, f in impls]
    print("call overhead, (1, 16) float32, temperature, median us: " + ", ".join(overheads))
    print("cases (temperature, top_k, top_p, min_p): "
          + ", ".join(f"{name} {case}" for name, case in CASES.items()))
    print(f"float32 logits, one token per row, median of {reps} runs; "
          "x = how many times faster clsoftmax is")
    header = f"{'shape':>12} | {'case':<11}"
    for name, _ in impls:
        header += f" | {name + ' ms':>13} {'GB/s':>6}"
        header += "" if name == "clsoftmax" else f" {'x':>6}"
    print(header)
    for shape in QUICK_SHAPES if args.quick else SHAPES:
        # Spread so that top-p (within the top 50) and min-p keep tens of entries, not 1 or all.
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        for case_name, case in CASES.items():
            line = f"{'x'.join(map(str, shape)):>12} | {case_name:<11}"
            ours = None
            for name, function in impls:
                seconds = median_seconds(function, x, case, reps)
                ours = seconds if ours is None else ours
                line += f" | {seconds * 1e3:13.3f} {4 * x.size / seconds / 1e9:6.2f}"
                if name != "clsoftmax":
                    line += f" {seconds / ours:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
