"""Context(device): the device strings of CLSM_DEVICE, given as an argument; None follows the library's default rule."""
import numpy as np
import pytest

import clsoftmax as cs


def test_default_device_and_name_substring():
    name = cs.Context().device_name
    assert name
    part = name[len(name) // 3: 2 * len(name) // 3].swapcase()
    with cs.Context(part) as c:
        assert c.device_name == name
        assert np.array_equal(c.softmax(np.zeros(4, np.float32)), np.full(4, 0.25, np.float32))
    with cs.Context("0:0") as c:
        assert c.device_name


def test_argument_wins_over_clsm_device(monkeypatch):
    name = cs.Context().device_name
    monkeypatch.setenv("CLSM_DEVICE", "no-such-device-anywhere")
    with pytest.raises(RuntimeError, match="DEVICE_NOT_FOUND"):
        cs.Context()
    with pytest.raises(RuntimeError, match="DEVICE_NOT_FOUND"):
        cs.Context("")
    assert cs.Context(name).device_name == name


def test_close_is_idempotent_and_collection_releases():
    c = cs.Context()
    c.close()
    c.close()
    for _ in range(20):
        cs.Context().softmax(np.ones(3))
