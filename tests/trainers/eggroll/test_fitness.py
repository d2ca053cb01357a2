"""Pair fitness shaping: ``sign``, the clipped, quantised ``zscore`` and ``rank``."""

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
        build_config("tiny", fitness="softmax")
    with pytest.raises(ConfigError, match="fitness 'rank' votes"):
        build_config("tiny", fitness="rank", noise_bound=40)


def test_rank_votes_by_the_rank_of_the_margin() -> None:
    d = np.array([0, -3, 1, 900, -2, 5, 0, 4, -1000], np.int64)
    f = shape(d, "rank")
    assert f.dtype == np.int8
    # 7 non-zero pairs ranked by |Δ|: 1, -2, -3, 4, 5, 900, -1000 → ⌈4·r/7⌉ = 1, 2, 2, 3, 3, 4, 4
    assert f.tolist() == [0, -2, 1, 4, -2, 3, 0, 3, -4]
    assert np.array_equal(shape(d * 7, "rank"), f) and np.array_equal(shape(-d, "rank"), -f)
    assert shape(np.zeros(4, np.int64), "rank").tolist() == [0] * 4
