"""Pair fitness shaping: ``sign`` and the clipped, quantised ``zscore``."""

from __future__ import annotations

import numpy as np
import pytest
from specboard.trainers.eggroll.config import FITNESS_LEVELS, ConfigError, build_config
from specboard.trainers.eggroll.train import shape


def test_sign_is_the_default_shaping() -> None:
    d = np.array([-40, 0, 3, 900], np.int64)
    np.testing.assert_array_equal(shape(d, "sign"), [-1, 0, 1, 1])
    assert shape(d, "sign").dtype == np.int8


def test_zscore_weights_by_the_difference_and_clips() -> None:
    d = np.array([-10, -5, 0, 5, 10, 1000], np.int64)
    f = shape(d, "zscore")
    assert f.dtype == np.int8
    rms = np.sqrt(np.mean(d.astype(float) ** 2))
    np.testing.assert_array_equal(f, np.clip(np.rint(2 * d / rms), -FITNESS_LEVELS, FITNESS_LEVELS))
    assert f[-1] == FITNESS_LEVELS and f[2] == 0           # the outlier is clipped, ties vote 0
    g = shape(np.array([-8, -4, 4, 8]), "zscore")
    assert list(g) == [-3, -1, 1, 3]                       # magnitude survives, sign kept
    assert shape(np.zeros(5, np.int64), "zscore").tolist() == [0] * 5
    assert np.array_equal(shape(d * 7, "zscore"), f)       # scale-free


def test_zscore_needs_noise_that_keeps_f_times_a_in_int8() -> None:
    assert build_config("tiny", fitness="zscore", noise_bound=31).fitness == "zscore"
    with pytest.raises(ConfigError, match="noise_bound must be <= 31"):
        build_config("tiny", fitness="zscore", noise_bound=40)
    with pytest.raises(ConfigError, match="fitness must be"):
        build_config("tiny", fitness="rank")
