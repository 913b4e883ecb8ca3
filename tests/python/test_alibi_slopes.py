"""alibi_slopes against the ALiBi paper's get_slopes, its ranges, and its bad arguments."""
import math

import numpy as np
import pytest

import clsoftmax as cs


def get_slopes(n):
    """The ALiBi paper's code (Press et al.), as published; its bias is 8."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return (get_slopes_power_of_2(closest_power_of_2)
            + get_slopes(2 * closest_power_of_2)[0::2][:n - closest_power_of_2])


def closed_form(heads, max_bias, h):
    """The contract's formula, for biases other than the paper's 8."""
    n = 2 ** math.floor(math.log2(heads))
    if h < n:
        return (2.0 ** (-max_bias / n)) ** (h + 1)
    return (2.0 ** (-max_bias / 2 / n)) ** (2 * (h - n) + 1)


@pytest.mark.parametrize("heads", range(1, 129))
def test_every_head_count_matches_the_paper(heads):
    got = cs.alibi_slopes(heads)
    assert got.dtype == np.float32 and got.shape == (heads,)
    np.testing.assert_allclose(got, get_slopes(heads), rtol=1e-6, atol=0)


@pytest.mark.parametrize("max_bias", [1, 3.5, 16])
def test_other_biases_match_the_closed_form(max_bias):
    for heads in range(1, 129):
        want = [closed_form(heads, max_bias, h) for h in range(heads)]
        np.testing.assert_allclose(cs.alibi_slopes(heads, max_bias), want, rtol=1e-6, atol=0,
                                   err_msg=f"{heads} heads")


@pytest.mark.parametrize("heads, ranks", [(32, 4), (12, 3), (40, 4), (96, 6)])
def test_tensor_parallel_ranks_get_their_part(heads, ranks):
    whole = cs.alibi_slopes(heads)
    per_rank = heads // ranks
    for rank in range(ranks):
        first = rank * per_rank
        part = cs.alibi_slopes(heads, first_head=first, count=per_rank)
        np.testing.assert_array_equal(part, whole[first:first + per_rank])
        np.testing.assert_array_equal(cs.alibi_slopes(heads, 8.0, first), whole[first:])


def test_empty_ranges():
    assert cs.alibi_slopes(8, count=0).shape == (0,)
    assert cs.alibi_slopes(8, first_head=8).shape == (0,)


@pytest.mark.parametrize("kwargs", [
    dict(heads=0),
    dict(heads=8, max_bias=0.0),
    dict(heads=8, max_bias=-1.0),
    dict(heads=8, max_bias=math.nan),
    dict(heads=8, max_bias=math.inf),
    dict(heads=8, first_head=9),
    dict(heads=8, first_head=7, count=2),
    dict(heads=8, count=9),
    dict(heads=8, count=2**70),
    dict(heads=8, first_head=2**64 - 1, count=2),
    # ctypes would pass these on as valid counts, wrapped around into a size_t.
    dict(heads=-1, count=2),
    dict(heads=2**64 + 8, count=8),
    dict(heads=8, first_head=-1),
    dict(heads=8, count=-1),
])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        cs.alibi_slopes(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(heads=8.0),
    dict(heads=8, first_head=1.5),
    dict(heads=8, count="2"),
    dict(heads=8, max_bias="8"),
    dict(heads=8, max_bias=1j),
])
def test_arguments_of_the_wrong_type_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        cs.alibi_slopes(**kwargs)


def test_exported():
    assert "alibi_slopes" in cs.__all__
