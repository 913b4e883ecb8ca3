"""pyopencl arrays: run on their own queue with no host round trip, equal to the host path, with events and wait lists honoured."""
import time

import numpy as np
import pytest

import clsoftmax as cs

cl = pytest.importorskip("pyopencl", reason="pyopencl is not installed")
cla = pytest.importorskip("pyopencl.array")


@pytest.fixture(scope="module")
def queue():
    """A queue on the device the library picks by default, found by its name."""
    name = cs.Context().device_name
    for platform in cl.get_platforms():
        for device in platform.get_devices():
            if device.name == name:
                return cl.CommandQueue(cl.Context([device]))
    pytest.fail(f"pyopencl lists no device named {name!r}, the library's default device")


def test_the_default_device_is_the_pyopencl_one(queue):
    assert queue.device.name == cs.Context().device_name


@pytest.mark.parametrize("op", [cs.softmax, cs.log_softmax])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_equal_the_host_path(queue, rng, op, dtype):
    x = (rng.standard_normal((3, 5, 7)) * 3).astype(dtype)
    xd = cla.to_device(queue, x)
    for axis in (None, 0, 1, -1, (1, 2), ()):
        yd = op(xd, axis)
        assert isinstance(yd, cla.Array)
        assert yd.queue is queue and yd.shape == x.shape and yd.dtype == x.dtype
        assert yd.data is not xd.data
        assert np.array_equal(yd.get(), op(x, axis))
    assert np.array_equal(xd.get(), x)


def test_offsets_stats_mask_and_sinks(queue, rng):
    big = rng.standard_normal((5, 2, 3, 16)).astype(np.float32)
    xd = cla.to_device(queue, big)[1:4]
    assert xd.offset > 0
    x = big[1:4]
    keep = rng.random((3, 16)) > 0.25
    sinks = np.array([0.5, -1.0])
    yd, sd = cs.softmax(xd, -1, mask=keep, causal=True, causal_offset=13, sinks=sinks,
                        return_stats=True)
    y, st = cs.softmax(x, -1, mask=keep, causal=True, causal_offset=13, sinks=sinks,
                       return_stats=True)
    assert isinstance(sd, cla.Array) and sd.shape == (3, 2, 3, 2)
    assert np.array_equal(yd.get(), y) and np.array_equal(sd.get(), st)


def test_backward_equals_the_host_path(queue, rng):
    y = cs.softmax(rng.standard_normal((4, 10)), axis=1)
    dy = rng.standard_normal((4, 10))
    dxd = cs.softmax_backward(cla.to_device(queue, y), cla.to_device(queue, dy), axis=1)
    assert isinstance(dxd, cla.Array)
    assert np.array_equal(dxd.get(), cs.softmax_backward(y, dy, axis=1))


def test_backward_with_options_equals_the_host_path(queue, rng):
    x = rng.standard_normal((2, 1, 3, 12)).astype(np.float32)
    keep = rng.random((3, 12)) > 0.2
    options = dict(softcap=2.0, mask=keep, causal=True, causal_offset=9,
                   kv_lengths=np.array([12, 8]))
    y = cs.log_softmax(x, -1, **options)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dxd = cs.softmax_backward(cla.to_device(queue, y), cla.to_device(queue, dy), -1, log=True,
                              x=cla.to_device(queue, x), **options)
    assert isinstance(dxd, cla.Array)
    assert np.array_equal(dxd.get(), cs.softmax_backward(y, dy, -1, log=True, x=x, **options))
    with pytest.raises(TypeError, match="pyopencl"):
        cs.softmax_backward(cla.to_device(queue, y), cla.to_device(queue, dy), -1, x=x,
                            softcap=2.0)


def test_wait_list_is_honoured(queue, rng):
    x = rng.standard_normal((4, 32)).astype(np.float32)
    xd = cla.zeros(queue, x.shape, np.float32)
    gate = cl.UserEvent(queue.context)
    # The upload, on another queue, waits for the gate; the softmax, on xd's queue, only
    # through xd's events, which it must pass on as its wait list.
    other = cl.CommandQueue(queue.context)
    upload = cl.enqueue_copy(other, xd.base_data, x, wait_for=[gate], is_blocking=False)
    xd.add_event(upload)
    try:
        yd = cs.softmax(xd, axis=1)
        done = yd.events[-1]
        time.sleep(0.2)
        early = done.command_execution_status
    finally:
        # Else the upload waits for ever, and so does the queue's teardown.
        gate.set_status(cl.command_execution_status.COMPLETE)
    assert early != cl.command_execution_status.COMPLETE
    done.wait()
    assert np.array_equal(yd.get(), cs.softmax(x, axis=1))


def test_device_array_errors(queue):
    xd = cla.zeros(queue, (4, 6, 8), np.float32)
    with pytest.raises(ValueError, match="C-contiguous"):
        cs.softmax(xd[:, ::2], axis=1)
    with pytest.raises(ValueError, match="adjacent"):
        cs.softmax(xd, axis=(0, 2))
    with pytest.raises(TypeError, match="dtype"):
        cs.softmax(cla.zeros(queue, 4, np.int32))
    with pytest.raises(TypeError, match="logsumexp"):
        cs.logsumexp(xd)
    with pytest.raises(TypeError, match="pyopencl"):
        cs.softmax_backward(xd, np.zeros(xd.shape, np.float32))
    with pytest.raises(TypeError, match="dtype"):
        cs.softmax_backward(xd, xd.astype(np.float64))
    with pytest.raises(ValueError, match="last axis"):
        cs.softmax(xd, axis=1, causal=True)
    empty = cs.softmax(cla.zeros(queue, (0, 3), np.float32), axis=1)
    assert isinstance(empty, cla.Array) and empty.shape == (0, 3)
    with pytest.raises(ValueError):
        cs.softmax(cla.zeros(queue, (0, 3), np.float32), axis=0)
