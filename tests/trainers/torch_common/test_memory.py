"""Peak-memory estimates refuse settings that cannot fit."""

from __future__ import annotations

import pytest
from specboard.trainers.torch_common.memory import (
    MemoryBudgetError,
    check_memory,
    estimate_peak_bytes,
)


def test_memory_estimate_refuses_huge_settings() -> None:
    est = estimate_peak_bytes(batch=64, seq=4096, vocab=49152, trained_params=10**7, frozen_params=0,
                              hidden=256, layers=6)
    assert est > 200 * (1 << 30)
    with pytest.raises(MemoryBudgetError, match="lower batch_size or seq_len"):
        check_memory(est, None, "distill")
    check_memory(estimate_peak_bytes(batch=1, seq=8, vocab=100, trained_params=10, frozen_params=0,
                                     hidden=8, layers=1), 1.0, "tiny")
