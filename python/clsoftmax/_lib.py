"""The bundled libclsoftmax through ctypes: its types, its functions, and its statuses as exceptions."""
import ctypes
import functools
import os

# clsm_status
SUCCESS = 0
INVALID_ARGUMENT = 1
INVALID_SHAPE = 2
BUILD_FAILED = 5

# clsm_op
SOFTMAX = 0
LOG_SOFTMAX = 1

# clsm_dtype
F32, F16, BF16, F64 = 0, 1, 2, 3

# clsm_mask_type
MASK_NONE, MASK_ADD_F32, MASK_ADD_F16, MASK_ADD_BF16, MASK_KEEP_U8 = 0, 1, 2, 3, 4

SIZE_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1
PTRDIFF_MIN = -(2 ** (8 * ctypes.sizeof(ctypes.c_ssize_t) - 1))
PTRDIFF_MAX = -PTRDIFF_MIN - 1


class Shape(ctypes.Structure):
    _fields_ = [("outer", ctypes.c_size_t), ("axis", ctypes.c_size_t), ("inner", ctypes.c_size_t)]


class Tensor(ctypes.Structure):
    _fields_ = [("host", ctypes.c_void_p), ("buffer", ctypes.c_void_p), ("offset", ctypes.c_size_t)]


class Options(ctypes.Structure):
    """clsm_options; struct_size is this struct's, as CLSM_OPTIONS_INIT sets it."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("batch", ctypes.c_size_t),
        ("heads", ctypes.c_size_t),
        ("rows", ctypes.c_size_t),
        ("mask_type", ctypes.c_int),
        ("mask", Tensor),
        ("mask_stride", ctypes.c_size_t * 4),
        ("causal", ctypes.c_int),
        ("causal_offset", ctypes.c_ssize_t),
        ("window", ctypes.c_size_t),
        ("sinks", Tensor),
        ("stats_out", Tensor),
        ("stats_in", Tensor),
        ("softcap", ctypes.c_float),
        ("alibi_slopes", Tensor),
        ("kv_lengths", Tensor),
    ]

    def __init__(self, **fields):
        super().__init__(struct_size=ctypes.sizeof(Options), **fields)


class Sampling(ctypes.Structure):
    """clsm_sampling; struct_size is this struct's, as CLSM_SAMPLING_INIT sets it."""
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_uint32),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("temperatures", Tensor),
        ("top_ks", Tensor),
        ("top_ps", Tensor),
        ("min_ps", Tensor),
        ("seed", ctypes.c_uint64),
        ("seeds", Tensor),
        ("offset", ctypes.c_uint64),
        ("logprobs", Tensor),
    ]

    def __init__(self, **fields):
        super().__init__(struct_size=ctypes.sizeof(Sampling), **fields)


_p = ctypes.c_void_p
_status = ctypes.c_int
_events = ctypes.POINTER(ctypes.c_void_p)


def _declare(lib, name, restype, *argtypes):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes


def _load():
    # ctypes.CDLL releases the GIL for the length of every call.
    lib = ctypes.CDLL(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libclsoftmax.so"))
    _declare(lib, "clsm_version", ctypes.c_char_p)
    _declare(lib, "clsm_status_string", ctypes.c_char_p, _status)
    _declare(lib, "clsm_context_create_on_device", _status, ctypes.POINTER(_p), ctypes.c_char_p)
    _declare(lib, "clsm_context_create_with_queue", _status, ctypes.POINTER(_p), _p)
    _declare(lib, "clsm_context_release", None, _p)
    _declare(lib, "clsm_context_queue", _p, _p)
    _declare(lib, "clsm_context_build_log", ctypes.c_char_p, _p)
    _declare(lib, "clsm_softmax_host_ex", _status, _p, ctypes.c_int, ctypes.c_int, Shape,
             ctypes.c_double, ctypes.POINTER(Options), _p, _p)
    _declare(lib, "clsm_softmax_buffers_ex", _status, _p, ctypes.c_int, ctypes.c_int, Shape,
             ctypes.c_double, ctypes.POINTER(Options), _p, ctypes.c_size_t, _p, ctypes.c_size_t,
             ctypes.c_uint, _events, ctypes.POINTER(_p))
    _declare(lib, "clsm_softmax_backward_host_ex", _status, _p, ctypes.c_int, ctypes.c_int,
             Shape, ctypes.c_double, ctypes.POINTER(Options), _p, _p, _p, _p)
    _declare(lib, "clsm_softmax_backward_buffers_ex", _status, _p, ctypes.c_int, ctypes.c_int,
             Shape, ctypes.c_double, ctypes.POINTER(Options), _p, ctypes.c_size_t, _p,
             ctypes.c_size_t, _p, ctypes.c_size_t, _p, ctypes.c_size_t, ctypes.c_uint, _events,
             ctypes.POINTER(_p))
    _declare(lib, "clsm_sample_host", _status, _p, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t,
             ctypes.c_double, ctypes.POINTER(Options), ctypes.POINTER(Sampling), _p, _p)
    _declare(lib, "clsm_sample_buffers", _status, _p, ctypes.c_int, ctypes.c_size_t,
             ctypes.c_size_t, ctypes.c_double, ctypes.POINTER(Options), ctypes.POINTER(Sampling),
             _p, ctypes.c_size_t, _p, ctypes.c_size_t, ctypes.c_uint, _events,
             ctypes.POINTER(_p))
    _declare(lib, "clsm_alibi_slopes", _status, ctypes.c_int, ctypes.c_size_t, ctypes.c_double,
             ctypes.c_size_t, ctypes.c_size_t, _p)
    return lib


lib = _load()


@functools.lru_cache(maxsize=None)
def _load_opencl():
    # Already loaded as libclsoftmax's dependency; only the device name is asked of it here.
    cl = ctypes.CDLL("libOpenCL.so.1")
    _declare(cl, "clGetCommandQueueInfo", ctypes.c_int32, _p, ctypes.c_uint32, ctypes.c_size_t,
             _p, ctypes.POINTER(ctypes.c_size_t))
    _declare(cl, "clGetDeviceInfo", ctypes.c_int32, _p, ctypes.c_uint32, ctypes.c_size_t, _p,
             ctypes.POINTER(ctypes.c_size_t))
    return cl


_CL_QUEUE_DEVICE = 0x1091
_CL_DEVICE_NAME = 0x102B


def device_name(ctx):
    """The name of the OpenCL device that the clsm_context pointer ctx runs on."""
    cl = _load_opencl()
    device = ctypes.c_void_p()
    err = cl.clGetCommandQueueInfo(lib.clsm_context_queue(ctx), _CL_QUEUE_DEVICE,
                                   ctypes.sizeof(device), ctypes.byref(device), None)
    size = ctypes.c_size_t()
    if err == 0:
        err = cl.clGetDeviceInfo(device, _CL_DEVICE_NAME, 0, None, ctypes.byref(size))
    name = ctypes.create_string_buffer(size.value + 1)
    if err == 0:
        err = cl.clGetDeviceInfo(device, _CL_DEVICE_NAME, size.value, name, None)
    if err != 0:
        raise RuntimeError(f"clsoftmax: OpenCL error {err} reading the device name")
    return name.value.decode(errors="replace")


def check(status, ctx=None):
    """Raise the exception for a clsm_status: ValueError for bad arguments and shapes,
    RuntimeError, with the kernel build log where there is one, for the device's errors."""
    if status == SUCCESS:
        return
    message = "clsoftmax: " + lib.clsm_status_string(status).decode()
    if status in (INVALID_ARGUMENT, INVALID_SHAPE):
        raise ValueError(message)
    if status == BUILD_FAILED and ctx is not None:
        message += "\n" + lib.clsm_context_build_log(ctx).decode(errors="replace")
    raise RuntimeError(message)
