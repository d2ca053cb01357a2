"""``specboard bench lm-eval``: the ARC-Easy requests and agreement with lm-eval's HFLM."""

from __future__ import annotations

import argparse

import pytest
from specboard.baselines import bench_lm_eval
from specboard.harness.errors import ExitCode


def test_arc_easy_requests() -> None:
    pairs, n_choices, gold = bench_lm_eval.arc_easy_requests(200)
    assert len(n_choices) == len(gold) == 200 and len(pairs) == sum(n_choices)
    assert all(3 <= k <= 5 for k in n_choices) and all(0 <= g < k for g, k in zip(gold, n_choices, strict=True))
    ctx, cont = pairs[0]
    assert ctx.startswith("Question: ") and ctx.endswith("\nAnswer:") and cont.startswith(" ")


@pytest.mark.slow
def test_ours_equals_lm_eval_hflm_in_fp32() -> None:
    pytest.importorskip("lm_eval")
    from specboard.baselines.registry import converted_dir

    try:
        model_dir = converted_dir("smollm2-135m")
    except Exception as exc:
        pytest.skip(f"smollm2-135m unavailable: {exc}")
    res = bench_lm_eval.compare(model_dir, items=6, dtype="fp32", threads=1, batch_size=8, repeats=1)
    assert res["requests"] >= 18
    assert res["max_abs_diff"] < 2e-3
    assert res["same_pick"] == 1.0 and res["acc_ours"] == res["acc_lm_eval"]
    assert res["ratio"] > 0


def test_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser()
    bench_lm_eval.add_arguments(p)
    assert bench_lm_eval.run(p.parse_args(["--items", "0"])) == ExitCode.USAGE_ERROR
    assert bench_lm_eval.run(p.parse_args(["--baseline", "nope"])) == ExitCode.INVALID_INPUT
    assert "known baselines" in capsys.readouterr().out
    assert bench_lm_eval.run(p.parse_args(["--items", "100000"])) == ExitCode.INVALID_INPUT
