"""The pyopencl path: arrays that stay on the device, enqueued on their own queue through the library's _buffers entry points."""
import ctypes
import math
import threading

import numpy as np

from . import _lib
from ._args import check_scale, is_device_array, require_last_axis
from ._dtypes import exact_storage
from ._handle import Handle
from ._host import _backward_x, call
from ._layout import adjacent, check_empty, check_scalar_axis, reduced_axes, triple
from ._options import Attention, requested, requested_rows
from ._sampling import SampleParameters, check_logits_shape


# A library context per queue, keyed by the queue's cl_command_queue. pyopencl queues take no
# weak references, so each stays for the life of the process; as it retains its queue, the
# pointer cannot be reused for another queue meanwhile.
_handles = {}
_handles_lock = threading.Lock()


def _handle(queue):
    key = queue.int_ptr
    with _handles_lock:
        handle = _handles.get(key)
        if handle is None:
            ptr = ctypes.c_void_p()
            _lib.check(_lib.lib.clsm_context_create_with_queue(ctypes.byref(ptr), key))
            handle = _handles[key] = Handle(ptr.value)
    return handle


def _check_layout(a, axes, name):
    if a.queue is None:
        raise ValueError(f"clsoftmax: the pyopencl array {name} has no queue to run on")
    if not a.flags.c_contiguous:
        raise ValueError(f"clsoftmax: the pyopencl array {name} must be C-contiguous "
                         "(copy it first)")
    if not adjacent(axes):
        raise ValueError(f"clsoftmax: on a pyopencl array the reduced axes must be adjacent, "
                         f"got {axes} (transpose and copy it first)")


def _wait_list(arrays):
    events = [e.int_ptr for a in arrays for e in a.events]
    return len(events), (ctypes.c_void_p * len(events))(*events) if events else None


def _upload(context, a):
    """A device copy of the host array a, as a clsm_tensor, and the buffer to keep it alive."""
    if a is None:
        return None, None
    import pyopencl as cl

    flags = cl.mem_flags.READ_ONLY | cl.mem_flags.COPY_HOST_PTR
    buffer = cl.Buffer(context, flags, hostbuf=a)
    return _lib.Tensor(buffer=buffer.int_ptr), buffer


def _finish(event, *arrays):
    import pyopencl as cl

    done = cl.Event.from_int_ptr(event.value, retain=False)
    for a in arrays:
        a.add_event(done)


def softmax(op, x, axis, scale, options, return_stats):
    import pyopencl.array as cla

    st = exact_storage(x.dtype)
    scale = check_scale(scale, wide=st.code == _lib.F64)
    shape = x.shape
    if x.ndim == 0:
        check_scalar_axis(axis)
        x, axis = x.reshape(1), None
    axes = reduced_axes(axis, x.ndim)
    _check_layout(x, axes, "x")
    att = None
    if requested(**options):
        if requested_rows(**{k: v for k, v in options.items() if k != "softcap"}):
            require_last_axis(axes, x.ndim, "mask, causal, sinks, alibi_slopes or kv_lengths")
        att = Attention(x.shape, st, **options)
    if return_stats:
        require_last_axis(axes, x.ndim, "return_stats")
    y = cla.empty_like(x)
    stats = None
    if return_stats:
        stats = cla.empty(x.queue, x.shape[:-1] + (2,), st.real, allocator=x.allocator)
    if x.size == 0:
        check_empty(x.shape, axis)
    else:
        opt = None
        if att is not None:
            # The buffers live until the call has enqueued; OpenCL then keeps them until the
            # kernel that reads them is done.
            mask, mask_buffer = _upload(x.context, att.mask)
            sinks, sinks_buffer = _upload(x.context, att.sinks)
            slopes, slopes_buffer = _upload(x.context, att.alibi_slopes)
            lengths, lengths_buffer = _upload(x.context, att.kv_lengths)
            opt = att.struct(mask, sinks, slopes, lengths)
        if return_stats:
            opt = opt if opt is not None else _lib.Options()
            opt.stats_out = _lib.Tensor(buffer=stats.base_data.int_ptr, offset=stats.offset)
        count, waits = _wait_list([x])
        event = ctypes.c_void_p()
        call(_handle(x.queue), _lib.lib.clsm_softmax_buffers_ex, op, st.code,
             _lib.Shape(*triple(x.shape, axes)), scale, opt, x.base_data.int_ptr, x.offset,
             y.base_data.int_ptr, y.offset, count, waits, ctypes.byref(event))
        _finish(event, *([y, stats] if return_stats else [y]))
    if y.shape != shape:
        y = y.reshape(shape)
    return (y, stats) if return_stats else y


def backward(y, dy, axis, scale, log, x, options):
    import pyopencl.array as cla

    if not (is_device_array(y) and is_device_array(dy)):
        raise TypeError("clsoftmax: y and dy must both be pyopencl arrays, or neither")
    if y.shape != dy.shape:
        raise ValueError(f"clsoftmax: y and dy differ in shape: {y.shape} and {dy.shape}")
    if y.dtype != dy.dtype:
        raise TypeError(f"clsoftmax: y and dy differ in dtype: {y.dtype} and {dy.dtype} "
                        "(device arrays are not converted)")
    x = _backward_x(x, y, options["softcap"])
    if x is not None and not is_device_array(x):
        raise TypeError("clsoftmax: x must be a pyopencl array, as y and dy are")
    if x is not None and x.dtype != y.dtype:
        raise TypeError(f"clsoftmax: x and y differ in dtype: {x.dtype} and {y.dtype} "
                        "(device arrays are not converted)")
    st = exact_storage(y.dtype)
    scale = check_scale(scale, wide=st.code == _lib.F64)
    shape = y.shape
    if y.ndim == 0:
        check_scalar_axis(axis)
        y, dy, axis = y.reshape(1), dy.reshape(1), None
        x = None if x is None else x.reshape(1)
    axes = reduced_axes(axis, y.ndim)
    _check_layout(y, axes, "y")
    _check_layout(dy, axes, "dy")
    if x is not None:
        _check_layout(x, axes, "x")
    # The gradient takes neither sinks nor ALiBi: they move u by what x does not change.
    options = dict(options, sinks=None, alibi_slopes=None)
    att = None
    if requested(**options):
        if requested_rows(**{k: v for k, v in options.items() if k != "softcap"}):
            require_last_axis(axes, y.ndim, "mask, causal or kv_lengths")
        att = Attention(y.shape, st, **options)
    dx = cla.empty_like(y)
    if y.size == 0:
        check_empty(y.shape, axis)
    else:
        opt = None
        if att is not None:
            # As in softmax(): the buffers live until the call has enqueued.
            mask, mask_buffer = _upload(y.context, att.mask)
            lengths, lengths_buffer = _upload(y.context, att.kv_lengths)
            opt = att.struct(mask, None, None, lengths)
        count, waits = _wait_list([a for a in (y, dy, x) if a is not None])
        event = ctypes.c_void_p()
        op = _lib.LOG_SOFTMAX if log else _lib.SOFTMAX
        call(_handle(y.queue), _lib.lib.clsm_softmax_backward_buffers_ex, op, st.code,
             _lib.Shape(*triple(y.shape, axes)), scale, opt,
             None if x is None else x.base_data.int_ptr, 0 if x is None else x.offset,
             y.base_data.int_ptr, y.offset, dy.base_data.int_ptr, dy.offset,
             dx.base_data.int_ptr, dx.offset, count, waits, ctypes.byref(event))
        _finish(event, dx)
    return dx.reshape(shape) if dx.shape != shape else dx


def sample(x, scale, options, params, return_logprobs):
    import pyopencl.array as cla

    st = exact_storage(x.dtype)
    scale = check_scale(scale, wide=st.code == _lib.F64)
    check_logits_shape(x.shape)
    _check_layout(x, (x.ndim - 1,), "logits")
    att = Attention(x.shape, st, **options) if requested(**options) else None
    sampling = SampleParameters(x.shape[:-1], **params)
    rows = math.prod(x.shape[:-1])
    tokens = cla.empty(x.queue, x.shape[:-1], np.int32, allocator=x.allocator)
    logprobs = (cla.empty(x.queue, x.shape[:-1], st.real, allocator=x.allocator)
                if return_logprobs else None)
    # No rows: pyopencl gives empty arrays no buffer, and there is nothing to write.
    if rows:
        # As in softmax(): the buffers live until the call has enqueued.
        opt, mask_buffer = None, None
        if att is not None:
            mask, mask_buffer = _upload(x.context, att.mask)
            opt = att.struct(mask, None, None, None)
        tensors, buffers = {}, []
        for field, a in sampling.per_row.items():
            tensors[field], buffer = _upload(x.context, a)
            buffers.append(buffer)
        if logprobs is not None:
            tensors["logprobs"] = _lib.Tensor(buffer=logprobs.base_data.int_ptr,
                                              offset=logprobs.offset)
        count, waits = _wait_list([x])
        event = ctypes.c_void_p()
        # An empty vocabulary has no buffer either; the library reads nothing then.
        call(_handle(x.queue), _lib.lib.clsm_sample_buffers, st.code, rows, x.shape[-1], scale,
             opt, sampling.struct(tensors), x.base_data.int_ptr if x.size else None, x.offset,
             tokens.base_data.int_ptr, tokens.offset, count, waits, ctypes.byref(event))
        _finish(event, *([tokens, logprobs] if return_logprobs else [tokens]))
    return (tokens, logprobs) if return_logprobs else tokens
