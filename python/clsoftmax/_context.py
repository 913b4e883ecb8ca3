"""Context: a library context on a chosen device, whose methods are the package's functions; and the shared default one."""
import ctypes
import threading

from . import _device, _host, _lib
from ._handle import Handle


class Context:
    """A clsoftmax context on one OpenCL device, usable from several threads at once.

    device: None for the library's default choice (the CLSM_DEVICE environment variable
    if set, else the first GPU, else the first device); else "P:D", device D of platform
    P (from 0, in ``clinfo -l`` order), or any other text, the first device whose name
    contains it, ignoring case. RuntimeError when it names no device.

    The methods are the module's functions run on this context. pyopencl arrays run on
    their own queue instead, through a context kept per queue, whichever Context is used.
    close() (or leaving a ``with`` block) releases the device context, once the calls
    running in other threads are done; garbage collection does the same.
    """

    def __init__(self, device=None):
        if device is not None and not isinstance(device, str):
            raise TypeError(f"clsoftmax: device must be a string or None, got {device!r}")
        if device is not None and "\0" in device:
            raise ValueError("clsoftmax: device must not contain NUL characters")
        ptr = ctypes.c_void_p()
        _lib.check(_lib.lib.clsm_context_create_on_device(
            ctypes.byref(ptr), device.encode() if device else None))
        self._handle = Handle(ptr.value)

    @property
    def device_name(self):
        """The name of the OpenCL device this context runs on."""
        ptr = self._handle.enter()
        try:
            return _lib.device_name(ptr)
        finally:
            self._handle.exit()

    def close(self):
        """Release the device context; later calls raise ValueError. Closing twice is fine."""
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<clsoftmax.Context at {id(self):#x}>"

    def softmax(self, x, axis=None, *, scale=1.0, mask=None, causal=False, causal_offset=0,
                window=0, sinks=None, softcap=0.0, alibi_slopes=None, kv_lengths=None,
                return_stats=False):
        """clsoftmax.softmax() on this context."""
        return self._forward(_lib.SOFTMAX, x, axis, scale, return_stats, mask=mask,
                             causal=causal, causal_offset=causal_offset, window=window,
                             sinks=sinks, softcap=softcap, alibi_slopes=alibi_slopes,
                             kv_lengths=kv_lengths)

    def log_softmax(self, x, axis=None, *, scale=1.0, mask=None, causal=False, causal_offset=0,
                    window=0, sinks=None, softcap=0.0, alibi_slopes=None, kv_lengths=None,
                    return_stats=False):
        """clsoftmax.log_softmax() on this context."""
        return self._forward(_lib.LOG_SOFTMAX, x, axis, scale, return_stats, mask=mask,
                             causal=causal, causal_offset=causal_offset, window=window,
                             sinks=sinks, softcap=softcap, alibi_slopes=alibi_slopes,
                             kv_lengths=kv_lengths)

    def logsumexp(self, x, axis=None, *, scale=1.0, keepdims=False, mask=None, causal=False,
                  causal_offset=0, window=0, sinks=None, softcap=0.0, alibi_slopes=None,
                  kv_lengths=None):
        """clsoftmax.logsumexp() on this context."""
        if _device.is_device_array(x):
            raise TypeError("clsoftmax: logsumexp takes host arrays; for a pyopencl array "
                            "use softmax(x, return_stats=True), whose stats are (max, sum)")
        options = dict(mask=mask, causal=causal, causal_offset=causal_offset, window=window,
                       sinks=sinks, softcap=softcap, alibi_slopes=alibi_slopes,
                       kv_lengths=kv_lengths)
        return _host.logsumexp(self._handle, x, axis, scale, keepdims, options)

    def softmax_backward(self, y, dy, axis=None, *, scale=1.0, log=False, x=None, softcap=0.0,
                         mask=None, causal=False, causal_offset=0, window=0, kv_lengths=None):
        """clsoftmax.softmax_backward() on this context."""
        options = dict(mask=mask, causal=causal, causal_offset=causal_offset, window=window,
                       softcap=softcap, kv_lengths=kv_lengths)
        if _device.is_device_array(y) or _device.is_device_array(dy):
            return _device.backward(y, dy, axis, scale, log, x, options)
        return _host.backward(self._handle, y, dy, axis, scale, log, x, options)

    def sample(self, logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=0, offset=0,
               scale=1.0, softcap=0.0, mask=None, return_logprobs=False):
        """clsoftmax.sample() on this context."""
        # Causal, windows, sinks, ALiBi and KV lengths are attention's: a vocabulary has no
        # positions, and the library refuses sinks here.
        options = dict(mask=mask, causal=False, causal_offset=0, window=0, sinks=None,
                       softcap=softcap, alibi_slopes=None, kv_lengths=None)
        params = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed,
                      offset=offset)
        if _device.is_device_array(logits):
            return _device.sample(logits, scale, options, params, return_logprobs)
        return _host.sample(self._handle, logits, scale, options, params, return_logprobs)

    def _forward(self, op, x, axis, scale, return_stats, **options):
        if _device.is_device_array(x):
            return _device.softmax(op, x, axis, scale, options, return_stats)
        return _host.softmax(self._handle, op, x, axis, scale, options, return_stats)


_default = None
_default_lock = threading.Lock()


def default_context():
    """The Context the module's functions use, created on first use by one thread only."""
    global _default
    context = _default
    if context is None:
        with _default_lock:
            if _default is None:
                _default = Context()
            context = _default
    return context
