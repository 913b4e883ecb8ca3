"""Threads: the GIL released during calls, eight Python threads sharing the default context, and a Context closed while others use it."""
import sys
import threading
import time

import numpy as np
import pytest
import scipy.special as sc

import clsoftmax as cs


def _run(workers):
    errors = []

    def guarded(k):
        try:
            workers(k)
        except BaseException as e:  # reported to the main thread, which fails the test
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_eight_threads_share_the_default_context():
    def work(k):
        rng = np.random.default_rng(k)
        for i in range(20):
            x = rng.standard_normal((k + 1, 40 + i)).astype(np.float32)
            y = cs.softmax(x, axis=1)
            np.testing.assert_allclose(y, sc.softmax(x.astype(np.float64), axis=1), rtol=1e-5)

    assert _run(work) == []


def test_closing_a_context_in_use_is_safe():
    ctx = cs.Context()
    x = np.ones((3, 64), np.float32)
    want = np.full(x.shape, 1 / 64, np.float32)
    # Every worker has finished one call, and is looping, when the context is closed.
    running = threading.Barrier(9)
    calls = [0] * 8

    def work(k):
        assert np.array_equal(ctx.softmax(x, axis=1), want)
        running.wait()
        try:
            while True:
                assert np.array_equal(ctx.softmax(x, axis=1), want)
                calls[k] += 1
        except ValueError as e:
            assert "closed" in str(e)

    def close():
        running.wait()
        ctx.close()

    closer = threading.Thread(target=close)
    closer.start()
    errors = _run(work)
    closer.join()
    assert errors == []
    with pytest.raises(ValueError, match="closed"):
        ctx.softmax(x)


def test_the_gil_is_released_during_a_call(rng):
    """A thread that only loops goes on while the main thread is inside the library. Were
    the GIL held, its longest pause within each call would be about the call's length; on
    a loaded machine the scheduler pauses it too, so of five calls only the best counts."""
    x = rng.standard_normal((2048, 4096)).astype(np.float32)
    cs.softmax(x, axis=-1)
    stop = threading.Event()
    gaps = []  # (start, end) of each pause of the looping thread over a millisecond

    def tick():
        last = time.perf_counter()
        while not stop.is_set():
            now = time.perf_counter()
            if now - last > 1e-3:
                gaps.append((last, now))
            last = now

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    ticker = threading.Thread(target=tick)
    try:
        ticker.start()
        calls = []
        for _ in range(5):
            start = time.perf_counter()
            cs.softmax(x, axis=-1)
            calls.append((start, time.perf_counter()))
    finally:
        stop.set()
        ticker.join()
        sys.setswitchinterval(interval)

    def paused_share(call):
        start, end = call
        longest = max((min(end, b) - max(start, a) for a, b in gaps), default=0.0)
        return max(longest, 0.0) / (end - start)

    shares = [paused_share(c) for c in calls]
    assert min(shares) < 0.5, shares
