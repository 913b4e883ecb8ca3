"""clsoftmax.sample: greedy against argmax, every token inside the kept set of a float64 reference, frequencies against the renormalised probabilities, seeds, per-row values, logprobs, special rows and bad input."""
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats

import clsoftmax as cs
from reference import bfloat16

# The kept sets' boundaries must hold under this relative error of the weights exp((u-max)/T)
# below the max (those at the max are exactly 1): the library computes them in float32 from
# a float32 (u-max)/T, whose rounding exp magnifies up to 87 times before float32 underflows.
# float64 logits are computed in float64, well within it.
WEIGHT_ERROR = 1e-5
# Each goodness-of-fit test fails below this p-value: one false failure in 1000 seed choices;
# the seeds are fixed, so a pass is a pass for good.
SIGNIFICANCE = 1e-3


def weights(u, temperature):
    """exp((u - max)/T) of one row u (float64), T as the library's float32 field holds it (0:
    1), and where the weight is exactly 1, at the max; +inf entries weigh 1, the rest 0."""
    if u.max() == np.inf:
        return (u == np.inf).astype(np.float64), np.ones(len(u), bool)
    t = float(np.float32(temperature)) or 1.0
    return np.exp((u - u.max()) / t), u == u.max()


def kept_set(u, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0):
    """The entries the contract may draw from one row u (float64, no NaN, not all -inf): in
    the order u descending, then index ascending, the first top_k, then the shortest prefix
    whose mass reaches top_p of theirs, then p >= min_p * max p; without those of weight 0.
    Fails where a boundary would move under the weights' relative error, so that a test
    meets only rows whose kept set the float32 weights cannot change."""
    n = len(u)
    order = np.lexsort((np.arange(n), -u))
    w, exact = weights(u, temperature)
    low = np.where(exact, w, w * (1 - WEIGHT_ERROR))
    high = np.where(exact, w, w * (1 + WEIGHT_ERROR))
    kept = order[: n if top_k == 0 or top_k >= n else top_k]
    p = float(np.float32(top_p))
    if 0 < p < 1:
        cuts = set()
        # The prefix's share is least with its weights low and the rest high, most the other way.
        for head, rest in ((low, high), (high, low)):
            prefix = np.cumsum(head[kept])
            share = prefix / (prefix + rest[kept].sum() - np.cumsum(rest[kept]))
            cuts.add(int(np.argmax(share >= p)) + 1)
        assert len(cuts) == 1, f"the top_p boundary of {u} is razor-thin: {cuts}"
        kept = kept[: cuts.pop()]
    if min_p > 0:
        # The library compares each weight with min_p; the max's weight is 1.
        floor = float(np.float32(min_p))
        keep = w[kept] >= floor
        assert np.array_equal(keep, low[kept] >= floor) and np.array_equal(
            keep, high[kept] >= floor), f"the min_p boundary of {u} is razor-thin"
        kept = kept[keep]
    return set(kept[w[kept] > 0].tolist())


def kept_probabilities(u, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0):
    """The kept entries, ascending, and p over them renormalised, in float64."""
    kept = sorted(kept_set(u, temperature, top_k, top_p, min_p))
    w = weights(u, temperature)[0][kept]
    return kept, w / w.sum()


def log_softmax_at(u, temperature, tokens):
    """log_softmax(u/T) of each row of u (float64) at its token, T float32 as the library
    takes it (0: 1); T may be one per row."""
    t = np.asarray(temperature, np.float32).astype(np.float64)
    t = np.where(t == 0, 1.0, t)
    u = u.reshape(-1, u.shape[-1])
    return sc.log_softmax(u / t.reshape(-1, 1), axis=-1)[np.arange(len(u)), tokens.reshape(-1)]


def rows_of(u, count):
    return np.ascontiguousarray(np.broadcast_to(np.asarray(u, np.float32), (count, len(u))))


def row(*values):
    return np.array(values, np.float64)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64]
                         + ([bfloat16] if bfloat16 else []), ids=lambda d: np.dtype(d).name)
def test_greedy_is_argmax_with_the_first_index_of_ties(rng, dtype):
    # Small integers, so that every dtype holds them exactly and ties abound.
    x = rng.integers(-20, 20, (6, 3, 50)).astype(dtype)
    tokens = cs.sample(x, temperature=0)
    assert tokens.dtype == np.int32 and tokens.shape == (6, 3)
    assert np.array_equal(tokens, np.argmax(x.astype(np.float64), axis=-1))
    # Ties of the max far apart in a long row, and at its two ends.
    long = rng.standard_normal((4, 40000)).astype(dtype)
    for r, places in enumerate([(39999, 7, 20000), (0, 39999), (12345, 12346), (39999,)]):
        long[r, list(places)] = 9
    assert np.array_equal(cs.sample(long, temperature=0),
                          np.argmax(long.astype(np.float64), axis=-1))


def test_greedy_takes_the_mask_scale_and_cap(rng):
    x = rng.standard_normal((5, 300)).astype(np.float32)
    keep = rng.random((5, 300)) > 0.5
    got = cs.sample(x, temperature=0, mask=keep)
    assert np.array_equal(got, np.argmax(np.where(keep, x, -np.inf), axis=-1))
    add = np.where(rng.random(300) > 0.5, 0.0, -np.inf).astype(np.float32)
    got = cs.sample(x, temperature=0, mask=add, scale=-2.0, softcap=30.0)
    assert np.array_equal(got, np.argmax(-x + add, axis=-1))


# (u, temperature, top_k, top_p, min_p): rows whose kept set is a trap for a wrong order,
# tie-break or boundary, each kept set far from razor-thin.
ADVERSARIAL = [
    # Ties at the k-th value: the ones of higher index fall out.
    (row(1, 3, 2, 3, 2, 2, 0), 1.0, 3, 1.0, 0.0),
    (row(1, 3, 2, 3, 2, 2, 0), 2.0, 4, 1.0, 0.0),
    # top_k past the one-pass candidate lists (64), with ties at the 100th value.
    (np.repeat(row(4, 3, 2), 60)[np.random.default_rng(5).permutation(180)], 3.0, 100, 1.0,
     0.0),
    (np.arange(200.0)[np.random.default_rng(6).permutation(200)] / 50, 1.0, 65, 1.0, 0.0),
    # k = 1 (on tied maxima), vocab - 1, vocab and past it.
    (row(0, 5, 5, 1), 1.0, 1, 1.0, 0.0),
    (row(0, 1, 2, 3, 3), 4.0, 4, 1.0, 0.0),
    (row(0, 1, 2, 3, 3), 4.0, 5, 1.0, 0.0),
    (row(0, 1, 2, 3, 3), 4.0, 2**40, 1.0, 0.0),
    # top_p: the boundary entry ties the next one, which falls out (masses .59 .81 .89 .97 1).
    (row(2, 1, 0, 3, 1), 1.0, 0, 0.85, 0.0),
    (row(2, 1, 0, 3, 1), 1.0, 3, 0.7, 0.0),
    # top_p 1e-7 keeps the first in order, the smallest index of the tied maxima.
    (row(2, 5, 5, 4), 1.0, 0, 1e-7, 0.0),
    # top_p 1 - 1e-7: the three at 0 and the three at -11.5 (mass 1e-5 each) reach it; those
    # at -40 (1e-17) do not count.
    (row(0, -40, -11.5, 0, -11.5, -40, 0, -11.5), 1.0, 0, 1 - 1e-7, 0.0),
    # min_p = 1 keeps the tied maxima only; min_p on a row with a clear gap.
    (row(1, 4, 4, 2), 1.0, 0, 1.0, 1.0),
    (row(0, 3, 2.5, 1, 3), 0.5, 0, 1.0, 0.2),
    (row(0, 3, 2.5, 1, 3), 0.5, 4, 0.9, 0.1),
    # +inf entries share all the mass; k = 1 takes the first.
    (row(0, np.inf, 3, np.inf), 1.0, 0, 1.0, 0.0),
    (row(0, np.inf, 3, np.inf), 1.0, 1, 1.0, 0.0),
    (row(np.inf, 1, np.inf, np.inf), 1.0, 0, 0.5, 0.0),
    # -inf entries, as masks leave them: never kept, even by a top_k past the finite ones.
    (row(-np.inf, 2, -np.inf, 1, 0), 1.0, 0, 1.0, 0.0),
    (row(-np.inf, 2, -np.inf, 1, 0), 1.0, 4, 1.0, 0.0),
    (row(-np.inf, 2, -np.inf, 1, 0), 1.0, 2, 0.6, 0.0),
    # A vocabulary of 1.
    (row(2.5), 1.0, 0, 1.0, 0.0),
    (row(2.5), 0.3, 1, 1e-7, 1.0),
    # One entry holds nearly all the mass: the others' weights are below 2**-63 and never drawn.
    (row(0, 100, 0, 0), 1.0, 0, 1.0, 0.0),
    (row(0, 20, 0, 0), 1.0, 0, 1 - 1e-7, 0.0),
    (row(-3, 2, 1, 2, 0), 0.05, 0, 1.0, 0.0),
]


@pytest.mark.parametrize("case", range(len(ADVERSARIAL)))
def test_every_token_is_in_the_kept_set(case):
    u, temperature, top_k, top_p, min_p = ADVERSARIAL[case]
    kept = kept_set(u, temperature, top_k, top_p, min_p)
    # Identical rows draw independently with a scalar seed: 400 draws in one call.
    x = rows_of(u, 400)
    tokens = np.concatenate([
        cs.sample(x, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=seed)
        for seed in (0, 77)])
    drawn = set(tokens.tolist())
    assert drawn <= kept, f"drew {sorted(drawn - kept)} outside the kept set {sorted(kept)}"
    # The draws reach every kept entry of mass well above 1/800.
    _, p = kept_probabilities(u, temperature, top_k, top_p, min_p)
    likely = {j for j, q in zip(sorted(kept), p) if q > 0.02}
    assert likely <= drawn, f"never drew {sorted(likely - drawn)} of the kept set {sorted(kept)}"


def test_masks_keep_tokens_out(rng):
    x = rng.standard_normal((64, 40)).astype(np.float32)
    keep = rng.random(40) > 0.7
    # The hidden entries are the largest, so that drawing one of them would be likely.
    x[:, ~keep] += 5
    tokens = cs.sample(x, temperature=3.0, mask=keep, seed=3)
    assert keep[tokens].all()
    add = np.where(rng.random((64, 40)) > 0.7, 0.0, -np.inf).astype(np.float32)
    tokens = cs.sample(x, temperature=3.0, top_k=30, mask=add, seed=3)
    assert np.all(add[np.arange(64), tokens] == 0)


# (u, temperature, top_k, top_p, min_p) whose kept entries each expect well over 5 draws of
# DRAWS, as the chi-square test asks.
FREQUENCY_ROWS = [
    (row(0, 1, 2, 3), 1.0, 0, 1.0, 0.0),
    (row(0, 1, 2, 3, 2.5, -1), 0.7, 4, 1.0, 0.0),
    (row(2, 1, 0, 3, 1, 1), 1.0, 0, 0.85, 0.0),
    (row(0, 3, 2.5, 1, 3, -np.inf), 2.0, 0, 1.0, 0.3),
    (row(1, 1, 1, 1, 1, 1, 1, 1), 1.0, 5, 1.0, 0.0),
]
DRAWS = 20000


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", range(len(FREQUENCY_ROWS)))
def test_frequencies_over_many_seeds_fit_the_kept_probabilities(case, dtype):
    u, temperature, top_k, top_p, min_p = FREQUENCY_ROWS[case]
    kept, p = kept_probabilities(u, temperature, top_k, top_p, min_p)
    x = rows_of(u, DRAWS).astype(dtype)
    tokens = cs.sample(x, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                       seed=np.arange(DRAWS, dtype=np.uint64) * 7919, offset=11)
    assert set(tokens.tolist()) <= set(kept)
    counts = np.array([(tokens == j).sum() for j in kept])
    result = scipy.stats.chisquare(counts, DRAWS * p)
    assert result.pvalue > SIGNIFICANCE, (kept, counts, DRAWS * p)


def test_same_seed_and_offset_same_tokens(rng):
    x = rng.standard_normal((16, 1000)).astype(np.float32)
    args = dict(temperature=1.5, top_k=200, top_p=0.95, min_p=0.01, seed=2**64 - 1,
                offset=2**40)
    first, logprobs = cs.sample(x, return_logprobs=True, **args)
    for _ in range(3):
        again, again_logprobs = cs.sample(x, return_logprobs=True, **args)
        assert np.array_equal(again, first) and np.array_equal(again_logprobs, logprobs)
    # A row draws alike in a call of any size.
    assert np.array_equal(cs.sample(x[:3], **args), first[:3])


def test_per_row_seeds_follow_their_row(rng):
    x = rng.standard_normal((12, 500)).astype(np.float32)
    seeds = rng.integers(0, 2**63, 12, dtype=np.uint64)
    tokens = cs.sample(x, seed=seeds, offset=5)
    moved = rng.permutation(12)
    assert np.array_equal(cs.sample(x[moved], seed=seeds[moved], offset=5), tokens[moved])


def test_different_seeds_and_offsets_draw_differently(rng):
    x = np.zeros((256, 1000), np.float32)
    base = cs.sample(x, seed=1)
    for other in (cs.sample(x, seed=2), cs.sample(x, seed=1, offset=1),
                  cs.sample(x, seed=np.full(256, 1, np.uint64))):
        # Uniform over 1000: two independent draws agree about one row in 1000.
        assert np.mean(other == base) < 0.05
    # A scalar seed counts the row, so identical rows differ; one per-row seed does not.
    assert len(set(base.tolist())) > 200
    assert len(set(cs.sample(x, seed=np.full(256, 1, np.uint64)).tolist())) == 1


def test_per_row_values_mix_greedy_and_sampled_rows(rng):
    rows = 8
    x = rng.standard_normal((2, 4, 64)).astype(np.float32) * 2
    temperature = np.array([0, 1, 0, 0.5, 2, 0, 1, 3], np.float32).reshape(2, 4)
    top_k = np.array([0, 5, 3, 0, 10, 0, 1, 64], np.int8)
    top_p = np.array([1, 0.9, 0.5, 1, 0.7, 1, 1, 0.99])
    min_p = np.array([0, 0, 0, 0.05, 0.1, 0.5, 0, 0])
    tokens, logprobs = cs.sample(x, temperature=temperature, top_k=top_k, top_p=top_p,
                                 min_p=min_p, seed=9, return_logprobs=True)
    assert tokens.shape == (2, 4)
    flat, t = x.reshape(rows, 64), temperature.reshape(rows)
    greedy = t == 0
    assert np.array_equal(tokens.reshape(rows)[greedy], np.argmax(flat[greedy], axis=-1))
    # With a scalar seed each row draws as the same row of a call with its values for all.
    for r in range(rows):
        alone = cs.sample(x, temperature=float(t[r]), top_k=top_k[r], top_p=float(top_p[r]),
                          min_p=float(min_p[r]), seed=9)
        assert tokens.reshape(rows)[r] == alone.reshape(rows)[r]
        assert tokens.reshape(rows)[r] in kept_set(flat[r].astype(np.float64), float(t[r]),
                                                   top_k[r], top_p[r], min_p[r])
    np.testing.assert_allclose(logprobs.reshape(rows),
                               log_softmax_at(flat.astype(np.float64), t, tokens), rtol=0,
                               atol=1e-5)


def test_nan_and_all_minus_inf_rows():
    x = np.array([[0, np.nan, 1], [-np.inf] * 3, [0, 1, -np.inf], [np.nan, -np.inf, np.inf]],
                 np.float32)
    for temperature in (0, 1.0):
        tokens, logprobs = cs.sample(x, temperature=temperature, return_logprobs=True)
        assert tokens.tolist() == [-1, -1, 1, -1]
        assert np.isnan(logprobs[0]) and logprobs[1] == -np.inf and np.isnan(logprobs[3])
    # A mask that hides a whole row.
    tokens, logprobs = cs.sample(x[2:3], mask=np.zeros(3, bool), return_logprobs=True)
    assert tokens.tolist() == [-1] and logprobs.tolist() == [-np.inf]


def test_empty_rows_and_vocabulary():
    tokens, logprobs = cs.sample(np.zeros((2, 0), np.float32), return_logprobs=True)
    assert tokens.tolist() == [-1, -1] and logprobs.tolist() == [-np.inf, -np.inf]
    tokens, logprobs = cs.sample(np.zeros((0, 5)), return_logprobs=True)
    assert tokens.shape == (0,) and logprobs.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64]
                         + ([bfloat16] if bfloat16 else []), ids=lambda d: np.dtype(d).name)
def test_logprobs_are_log_softmax_at_the_token(rng, dtype):
    x = (rng.standard_normal((32, 700)) * 4).astype(dtype)
    u = x.astype(np.float64)
    for temperature in (0, 0.6, 1.0, 2.5):
        tokens, logprobs = cs.sample(x, temperature=temperature, top_k=40, seed=4,
                                     return_logprobs=True)
        assert logprobs.dtype == (np.float64 if dtype == np.float64 else np.float32)
        want = log_softmax_at(u, temperature, tokens)
        np.testing.assert_allclose(logprobs, want, rtol=0,
                                   atol=1e-12 if dtype == np.float64 else 1e-5)
    # With scale, a cap and an additive mask, the shaped logits are what is divided.
    add = np.where(rng.random(700) > 0.3, rng.standard_normal(700), -np.inf).astype(np.float32)
    tokens, logprobs = cs.sample(x, temperature=0.8, scale=0.5, softcap=3.0, mask=add,
                                 return_logprobs=True)
    shaped = 3.0 * np.tanh(0.5 * u / 3.0) + add.astype(np.float64)
    np.testing.assert_allclose(logprobs, log_softmax_at(shaped, 0.8, tokens), rtol=0, atol=1e-5)


def test_any_layout_sequences_and_integer_logits(rng):
    x = rng.standard_normal((6, 40)).astype(np.float32)
    args = dict(temperature=np.float32(0.7), top_k=np.array(9), seed=5)
    want = cs.sample(x, **args)
    assert np.array_equal(cs.sample(np.asfortranarray(x), **args), want)
    assert np.array_equal(cs.sample(np.repeat(x, 2, axis=1)[:, ::2], **args), want)
    assert np.array_equal(cs.sample(x.tolist(), **args), cs.sample(x.astype(np.float64), **args))
    # Integers are sampled in float64, as softmax computes them.
    ints = rng.integers(-5, 5, (6, 40))
    tokens, logprobs = cs.sample(ints, return_logprobs=True, **args)
    assert logprobs.dtype == np.float64
    assert np.array_equal(tokens, cs.sample(ints.astype(np.float64), **args))


def test_one_row_gives_scalars():
    token, logprob = cs.sample(np.array([0.0, 3.0, 1.0], np.float32), temperature=0,
                               return_logprobs=True)
    assert type(token) is np.int32 and token == 1 and type(logprob) is np.float32


X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature=-0.5), "temperature"),
    (dict(temperature=np.inf), "temperature"),
    (dict(temperature=np.nan), "temperature"),
    (dict(temperature=1e39), "temperature"),
    (dict(top_p=1.5), "top_p"),
    (dict(top_p=np.nan), "top_p"),
    (dict(min_p=-0.1), "min_p"),
    (dict(top_k=-1), "top_k"),
    (dict(seed=-1), "seed"),
    (dict(seed=2**64), "seed"),
    (dict(offset=-1), "offset"),
    (dict(temperature=np.ones(5)), "one value per row"),
    (dict(top_k=np.ones((3, 2), np.int64)), "one value per row"),
    (dict(seed=np.ones(7, np.uint64)), "one value per row"),
    (dict(temperature=[1, 1, 1, 1, -1, 1]), r"temperature must be .* row \(4,\)"),
    (dict(top_p=np.array([[0.5, 0.9, 1.0], [0.1, 2.0, 0.3]])), r"top_p must be .* row \(1, 1\)"),
    (dict(min_p=np.full(6, np.nan)), "min_p"),
    (dict(top_k=np.array([1, 2, 3, -4, 5, 6])), "top_k"),
    (dict(seed=np.array([1, 2, 3, 4, 5, -6])), "seed"),
    (dict(mask=np.ones((5, 4), bool)), "mask"),
])
def test_bad_values_raise_value_error_and_write_nothing(kwargs, match):
    x = X.copy()
    arrays = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    copies = {k: v.copy() for k, v in arrays.items()}
    with pytest.raises(ValueError, match=match):
        cs.sample(x, **kwargs)
    assert np.array_equal(x, X)
    for k, v in arrays.items():
        assert np.array_equal(v, copies[k], equal_nan=v.dtype.kind == "f")


@pytest.mark.parametrize("kwargs, match", [
    (dict(temperature="1"), "temperature"),
    (dict(top_k=1.5), "top_k"),
    (dict(seed=2.0), "seed"),
    (dict(offset=None), "offset"),
    (dict(offset=np.arange(6)), "offset"),
    (dict(top_k=np.ones(6)), "top_k"),
    (dict(temperature=np.array(["a"] * 6)), "temperature"),
    (dict(softcap="2"), "softcap"),
    (dict(scale=None), "scale"),
])
def test_bad_types_raise_type_error(kwargs, match):
    with pytest.raises(TypeError, match=match):
        cs.sample(X, **kwargs)


def test_bad_logits():
    with pytest.raises(ValueError, match="0-d"):
        cs.sample(np.float32(1))
    with pytest.raises(TypeError, match="dtype"):
        cs.sample(np.ones(3, np.complex64))
    with pytest.raises(ValueError, match="scale"):
        cs.sample(X, scale=np.nan)


def test_a_closed_context_raises():
    context = cs.Context()
    context.close()
    with pytest.raises(ValueError, match="closed"):
        context.sample(X)


def test_the_token_does_not_depend_on_the_work_split(rng, monkeypatch):
    # CLSM_KERNEL=group gives each row a work-group of 32 work-items, which split it.
    x = rng.standard_normal((8, 5000)).astype(np.float32)
    args = dict(temperature=1.3, top_k=300, top_p=0.9, seed=12, return_logprobs=True)
    tokens, _ = cs.sample(x, **args)
    monkeypatch.setenv("CLSM_KERNEL", "group")
    with cs.Context() as split:
        split_tokens, _ = split.sample(x, **args)
    assert np.array_equal(split_tokens, tokens)


@pytest.fixture(scope="module")
def queue():
    """A pyopencl queue on the library's default device; the tests that take it skip without
    pyopencl."""
    cl = pytest.importorskip("pyopencl", reason="pyopencl is not installed")
    name = cs.Context().device_name
    for platform in cl.get_platforms():
        for device in platform.get_devices():
            if device.name == name:
                return cl.CommandQueue(cl.Context([device]))
    pytest.fail(f"pyopencl lists no device named {name!r}, the library's default device")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_pyopencl_tokens_stay_on_the_device_and_equal_the_host_path(queue, rng, dtype):
    import pyopencl.array as cla

    big = (rng.standard_normal((5, 3, 300)) * 3).astype(dtype)
    x = big[1:4]
    xd = cla.to_device(queue, big)[1:4]
    assert xd.offset > 0
    args = dict(temperature=np.array([[0, 1, 2]] * 3), top_k=[[5] * 3, [0] * 3, [50] * 3],
                top_p=0.9, min_p=np.full(9, 0.02), seed=np.arange(9, dtype=np.uint64),
                offset=3, mask=rng.random(300) > 0.1, softcap=5.0, return_logprobs=True)
    td, ld = cs.sample(xd, **args)
    assert isinstance(td, cla.Array) and td.queue is queue
    assert td.dtype == np.int32 and td.shape == (3, 3) and ld.dtype == dtype
    tokens, logprobs = cs.sample(x, **args)
    assert np.array_equal(td.get(), tokens) and np.array_equal(ld.get(), logprobs)
    assert np.array_equal(xd.get(), x)
    assert np.array_equal(cs.sample(xd, seed=7).get(), cs.sample(x, seed=7))


def test_pyopencl_special_rows_and_shapes(queue):
    import pyopencl.array as cla

    x = np.array([[0, np.nan, 1], [-np.inf] * 3, [0, 1, 2]], np.float32)
    td, ld = cs.sample(cla.to_device(queue, x), temperature=0, return_logprobs=True)
    assert td.get().tolist() == [-1, -1, 2]
    assert np.isnan(ld.get()[0]) and ld.get()[1] == -np.inf
    td, ld = cs.sample(cla.zeros(queue, (2, 0), np.float32), return_logprobs=True)
    assert td.get().tolist() == [-1, -1] and ld.get().tolist() == [-np.inf, -np.inf]
    assert cs.sample(cla.zeros(queue, (0, 4), np.float32)).shape == (0,)
    one = cs.sample(cla.to_device(queue, x[2]), temperature=0)
    assert one.shape == () and one.get() == 2


def test_pyopencl_bad_input_raises_and_enqueues_nothing(queue):
    import pyopencl.array as cla

    xd = cla.to_device(queue, X)
    events = list(xd.events)
    for kwargs in (dict(temperature=-1.0), dict(top_p=1.5), dict(min_p=-0.1),
                   dict(temperature=np.ones(5)), dict(temperature=[1, 1, np.nan, 1, 1, 1])):
        with pytest.raises(ValueError):
            cs.sample(xd, **kwargs)
    with pytest.raises(TypeError, match="pyopencl"):
        cs.sample(xd, temperature=cla.zeros(queue, 6, np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        cs.sample(cla.zeros(queue, (4, 6), np.float32)[:, ::2])
    with pytest.raises(TypeError, match="dtype"):
        cs.sample(cla.zeros(queue, (4, 6), np.int32))
    assert list(xd.events) == events and np.array_equal(xd.get(), X)
