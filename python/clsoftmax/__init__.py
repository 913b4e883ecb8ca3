"""clsoftmax: softmax and log-softmax on OpenCL devices, a drop-in for scipy.special's, through the bundled C library."""
from . import _alibi, _lib
from ._context import Context, default_context as _default_context

__all__ = ["Context", "softmax", "log_softmax", "logsumexp", "softmax_backward", "sample",
           "alibi_slopes"]
__version__ = _lib.lib.clsm_version().decode()


def softmax(x, axis=None, *, scale=1.0, mask=None, causal=False, causal_offset=0, window=0,
            sinks=None, softcap=0.0, alibi_slopes=None, kv_lengths=None, return_stats=False):
    """Softmax of x along axis: exp(u - max(u)) / sum(exp(u - max(u))) with u = scale*x.

    A drop-in for scipy.special.softmax. x is any array-like; axis is None (the whole
    array), an int or a tuple of ints, negative ones counting from the end. The result is
    a new array of x's shape (a NumPy scalar for a 0-d x); x is never modified.

    dtypes: float16, float32, float64 and ml_dtypes.bfloat16 keep theirs (float16 and
    bfloat16 are computed in float32); integers and booleans are computed in float64 and
    give float64, and so does longdouble, which has no device type. Complex dtypes raise
    TypeError.

    Special values follow the library's contract: NaN anywhere in a slice makes that slice
    NaN; a slice whose entries are all -inf (fully masked) gives 0 (log_softmax: -inf)
    where SciPy gives NaN; k entries at +inf get 1/k each and the others 0 (log_softmax:
    -log k and -inf) where SciPy gives NaN.

    Options, in the order they apply; all but scale and softcap for the softmax over the
    last axis only (else ValueError), with x of shape (..., H, R, N) seen as batch
    B = prod(...), H heads and R rows of N entries:

    scale: finite, applied in float32 (float64 for float64 x, taken as given) before
        everything else.
    softcap: > 0 turns u = scale*x into softcap*tanh(u/softcap) (Gemma 2's logit
        soft-capping); 0 is off. Any axis.
    mask: broadcastable to x's shape. bool keeps the entries where True (False masks
        them to -inf); float32, float16 and bfloat16 masks are added to scale*x, other
        real dtypes are converted to float32 and added.
    alibi_slopes: one slope per head, shape (H,) (alibi_slopes() makes them): subtracts
        slope_h * |j - (r + causal_offset)| from u.
    causal, causal_offset: entry j of row r is masked where j > r + causal_offset
        (for a KV cache of N entries and R new rows, causal_offset = N - R).
    window: with causal, also masks the entries j <= r + causal_offset - window.
    kv_lengths: one length per batch entry, shape (B,), integers in [0, N]: entries
        j >= length are masked without being read; causal rows and ALiBi distances then
        align at the bottom right, r + length - R + causal_offset.
    sinks: one logit per head, shape (H,), that joins each slice's max and sum.
    return_stats: also return stats of shape x.shape[:-1] + (2,), each slice's
        (max, sum of exp(u - max)), float32 (float64 for float64 x).

    pyopencl arrays run on their own queue with no copy to the host and give a new
    pyopencl array, with the call's event attached; they must be C-contiguous, reduced
    over adjacent axes, of one of the four float dtypes. mask, sinks, alibi_slopes and
    kv_lengths are then NumPy arrays, copied to the device, and stats is a pyopencl array.

    Errors: ValueError for bad axes, shapes and arguments (AxisError, a ValueError, for an
    axis out of range), TypeError for unsupported dtypes, RuntimeError from the device.
    """
    return _default_context().softmax(x, axis, scale=scale, mask=mask, causal=causal,
                                     causal_offset=causal_offset, window=window, sinks=sinks,
                                     softcap=softcap, alibi_slopes=alibi_slopes,
                                     kv_lengths=kv_lengths, return_stats=return_stats)


def log_softmax(x, axis=None, *, scale=1.0, mask=None, causal=False, causal_offset=0, window=0,
                sinks=None, softcap=0.0, alibi_slopes=None, kv_lengths=None,
                return_stats=False):
    """Log-softmax of x along axis: u - max(u) - log(sum(exp(u - max(u)))) with u = scale*x.

    A drop-in for scipy.special.log_softmax; arguments, dtypes, special values (an all
    -inf slice gives -inf, k entries at +inf give -log k and the rest -inf, where SciPy
    gives NaN), options and errors as for softmax().
    """
    return _default_context().log_softmax(x, axis, scale=scale, mask=mask, causal=causal,
                                         causal_offset=causal_offset, window=window,
                                         sinks=sinks, softcap=softcap,
                                         alibi_slopes=alibi_slopes, kv_lengths=kv_lengths,
                                         return_stats=return_stats)


def logsumexp(x, axis=None, *, scale=1.0, keepdims=False, mask=None, causal=False,
              causal_offset=0, window=0, sinks=None, softcap=0.0, alibi_slopes=None,
              kv_lengths=None):
    """log(sum(exp(scale*x))) along axis, from the library's per-slice statistics alone
    (no softmax is written): max + log(sum).

    axis as for softmax(); the reduced axes are removed, or kept with length 1 with
    keepdims. The result has x's result dtype (see softmax()); a 0-d result is a NumPy
    scalar. An all -inf slice gives -inf, a NaN slice NaN, +inf entries +inf; an empty
    reduction gives -inf, as SciPy's. mask, causal, causal_offset, window, sinks,
    softcap, alibi_slopes and kv_lengths as for softmax(). Host arrays only.
    """
    return _default_context().logsumexp(x, axis, scale=scale, keepdims=keepdims, mask=mask,
                                       causal=causal, causal_offset=causal_offset,
                                       window=window, sinks=sinks, softcap=softcap,
                                       alibi_slopes=alibi_slopes, kv_lengths=kv_lengths)


def softmax_backward(y, dy, axis=None, *, scale=1.0, log=False, x=None, softcap=0.0, mask=None,
                     causal=False, causal_offset=0, window=0, kv_lengths=None):
    """The gradient dx with respect to x, from the forward output y and the upstream
    gradient dy (of one shape):

    softmax (log=False):    dx = scale * y * (dy - sum(dy * y, axis)) * f
    log_softmax (log=True): dx = scale * (dy - exp(y) * sum(dy, axis)) * f

    with f = 1 - tanh(scale*x/softcap)**2 when the forward soft-capped (else 1), and dx = 0
    at every entry the forward's mask, causal, window or kv_lengths set to -inf. The sums
    still take every entry, masked ones included, as PyTorch's do.

    axis and scale as in the forward call. A zero factor from y (y = 0 for softmax,
    exp(y) = 0 for log_softmax) counts as 0 even against an infinite dy, so masked
    entries never make a slice NaN; NaN in y or dy makes that slice NaN but for its masked
    entries. y and dy are computed in their common result dtype (see softmax()); as
    pyopencl arrays, both on one queue and of one dtype.

    x: the forward's input, of y's shape; needed (else ValueError) with softcap > 0, and
    not read without it. softcap, mask, causal, causal_offset, window and kv_lengths: the
    forward call's, with its rules (all but softcap need the last axis). The forward's
    sinks and alibi_slopes do not change the gradient and are not taken.
    """
    return _default_context().softmax_backward(y, dy, axis, scale=scale, log=log, x=x,
                                              softcap=softcap, mask=mask, causal=causal,
                                              causal_offset=causal_offset, window=window,
                                              kv_lengths=kv_lengths)


def sample(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=0, offset=0,
           scale=1.0, softcap=0.0, mask=None, return_logprobs=False):
    """One token per row of logits, drawn from softmax(u/temperature) as top_k, top_p and
    min_p filter it, with u = scale*x shaped by softcap and mask as for softmax().

    logits: array-like of shape (..., V), V the vocabulary; the leading axes are the rows.
    dtypes as for softmax(). Returns the tokens, int32 of shape logits.shape[:-1] (a NumPy
    scalar for 1-D logits), each in [0, V), or -1 for a row with a NaN, a row of only -inf
    and V = 0.

    For each row, in the order u descending, then index ascending:
    temperature: 0 is greedy, the first index of the max; else finite and > 0, p =
        softmax(u/temperature).
    top_k: keep the first top_k entries; 0, or >= V, keeps all.
    top_p: in [0, 1]; of those, keep the shortest prefix whose mass reaches top_p of
        theirs (at least one entry); 0 or 1 is off.
    min_p: in [0, 1]; of those, keep the entries with p >= min_p * max(p); 0 is off.
    The token is drawn from p restricted to what is kept, renormalised: exactly that
    distribution (within 2**-64; weights below 2**-63 of the max are never drawn), with p
    and the boundaries computed in float32 (float64 for float64 logits). temperature,
    top_p and min_p reach the library as float32 whatever the logits. +inf entries share
    all the mass, as in softmax().
    temperature, top_k, top_p, min_p and seed may each be one value per row instead, of
    shape logits.shape[:-1] or (rows,) (NumPy arrays or sequences): temperature 0 in some
    rows makes those rows greedy.

    seed, offset: integers in [0, 2**64). The draw is Philox4x32-10 keyed by the seed and
    counted by offset (e.g. the decoding step) and, for a scalar seed, the row index; per-row
    seeds leave the row out, so that a request keeps its tokens in any row. Same logits,
    parameters, seed and offset: the same tokens, on any device, run after run.
    scale, softcap, mask: as for softmax() over the last axis, on the logits.
    return_logprobs: also return log_softmax(u/temperature) at each token before any filter
    (temperature 0 uses 1), float32 (float64 for float64 logits); NaN for a NaN row, -inf
    for the -1 rows without one.

    pyopencl arrays run on their own queue, as for softmax(), and give pyopencl arrays (the
    call's event attached); the per-row values and mask are then NumPy arrays, copied to the
    device.

    Errors: ValueError for bad values (a negative temperature, top_p or min_p outside
    [0, 1], a per-row array of the wrong shape, 0-d logits), TypeError for bad types,
    RuntimeError from the device.
    """
    return _default_context().sample(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                     min_p=min_p, seed=seed, offset=offset, scale=scale,
                                     softcap=softcap, mask=mask,
                                     return_logprobs=return_logprobs)


def alibi_slopes(heads, max_bias=8.0, first_head=0, count=None):
    """ALiBi slopes (the ALiBi paper's and ggml's formula) of heads first_head to
    first_head + count - 1 out of heads, as a new float32 array of count entries; count None
    is heads - first_head, the rest. With n the largest power of two <= heads, head h gets
    2**(-max_bias*(h+1)/n) for h < n, else 2**(-max_bias*(2*(h-n)+1)/(2*n)); computed in
    float64 and rounded once. first_head and count give a tensor-parallel rank its own heads.
    Needs no device.

    Errors: ValueError for heads 0, a max_bias that is not finite and > 0, negative counts
    or first_head + count > heads; TypeError for counts that are not integers or a max_bias
    that is not a real number.
    """
    return _alibi.alibi_slopes(heads, max_bias, first_head, count)
