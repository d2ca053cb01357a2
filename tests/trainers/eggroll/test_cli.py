"""``specboard train eggroll`` end to end in-process: train, interrupt (SIGINT), resume."""

from __future__ import annotations

import argparse
import os
import signal

from specboard.harness.errors import ExitCode
from specboard.trainers.eggroll import checkpoint as ck
from specboard.trainers.eggroll import cli
from specboard.trainers.eggroll.train import Trainer


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    return p.parse_args(list(argv))


def test_cli_trains_checkpoints_and_resumes(tmp_path):
    out = str(tmp_path / "run")
    small = ("--preset", "tiny", "--threads", "1", "--no-progress", "--eval-every", "2")
    assert cli.run(_args(*small, "--out", out, "--steps", "2")) == ExitCode.PASS
    assert [p.name for p in ck.ring_files(out)] == ["ckpt-00000002.egg"]
    assert (tmp_path / "run" / "config.json").is_file() and (tmp_path / "run" / ck.BEST_NAME).is_file()
    assert cli.run(_args("--out", out, "--resume", "latest", "--steps", "4", "--threads", "1",
                         "--no-progress")) == ExitCode.PASS
    assert ck.load(ck.ring_files(out)[-1]).step == 4
    # a different preset on resume is refused instead of silently mixing configs
    assert cli.run(_args("--preset", "small", "--out", out, "--resume", "latest")) == ExitCode.USAGE_ERROR


def test_cli_reports_bad_input(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text("population = 3\n")
    assert cli.run(_args("--preset", "tiny", "--config", str(tmp_path / "bad.toml"))) == ExitCode.USAGE_ERROR
    assert "population must be even" in capsys.readouterr().out
    assert cli.run(_args("--out", str(tmp_path / "empty"), "--resume", "latest")) == ExitCode.INVALID_INPUT


def test_sigint_saves_and_stops_cleanly(tmp_path, corpus, micro_cfg):
    tr = Trainer(micro_cfg.override(eval_every=100), tmp_path, corpus, log=lambda s: None)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when launched in a background job
    real_step = tr.step
    calls = {"n": 0}

    def step_then_interrupt():
        info = real_step()
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)   # handled: the flag rides the next all-gather
        return info

    tr.step = step_then_interrupt  # type: ignore[method-assign]
    assert tr.train(50, progress=False) is False
    assert tr.st.step == 4                        # every rank stops after the same step
    assert ck.load(ck.ring_files(tmp_path)[-1]).step == 4
    assert signal.getsignal(signal.SIGINT) is before  # the trainer restores what it found
