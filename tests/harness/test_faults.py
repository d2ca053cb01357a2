"""A tour of bad inputs and faults: each gives its documented exit code, a one-line message
and no traceback, and no row that was readable before a command is missing after it.

Exit codes (``specboard.harness.errors.ExitCode``): 4 usage (bad argument, missing or
wrong kind of file, unwritable output), 7 invalid input (malformed lines, corrupt artifact,
a merge that would lose unread lines), 3 a bug (one line plus a traceback file). The CLI
runs in-process (``cli.main``) except where the fault needs another process: a read-only or
full disk (a private mount namespace), SIGKILL and resume.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from specboard.harness.cli import main
from specboard.harness.errors import ExitCode
from specboard.harness.results.schema import OUTPUT_LIMIT, MetricRow, SampleRow, dump_row
from specboard.harness.results.store import append_rows, read_rows

SPECBOARD = [sys.executable, "-m", "specboard.harness.cli"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``specboard ARGS`` run in this process."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def fault(args: list[str], code: int, capsys: pytest.CaptureFixture[str], message: str = "") -> str:
    """Run, check the exit code, no traceback, and exactly one error line matching ``message``."""
    got, out, err = run_cli(args, capsys)
    assert got == code, (args, got, out, err)
    assert "Traceback" not in out + err, err
    if message:
        errors = [ln for ln in err.splitlines() if re.search(r"\berror\b", ln)]
        assert len(errors) == 1 and re.search(message, errors[0]), err
    return err


def _sample(i: int, run: str = "r1", **kw: object) -> SampleRow:
    return SampleRow(run_id=run, task="t/a", item_id=str(i), item_hash=f"h{i}", prompt_hash="p",
                     score=float(i % 2), passed=bool(i % 2), **kw)  # type: ignore[arg-type]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    p = tmp_path / "good.jsonl"
    append_rows(p, [_sample(i) for i in range(3)])
    return p


# -- numeric options: usage errors, never a run ------------------------------------------
@pytest.mark.parametrize("args, what", [
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--limit", "-5"], "--limit"),
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--limit", "0"], "--limit"),
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--limit", "ten"], "--limit"),
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--repeats", "0"], "--repeats"),
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--shard", "5/2"], "--shard"),
    (["eval", "--suite", "bfcl", "--candidate", "mock:x", "--shard", "half"], "--shard"),
    (["gate", "--candidate-results", "a", "--baseline", "b", "--alpha", "7"], "--alpha"),
    (["gate", "--candidate-results", "a", "--baseline", "b", "--alpha", "0"], "--alpha"),
    (["gate", "--candidate-results", "a", "--baseline", "b", "--margin", "-1"], "--margin"),
    (["gate", "--candidate-results", "a", "--baseline", "b", "--margin", "nan"], "--margin"),
    (["gate", "--candidate-results", "a", "--baseline", "b", "--flips", "-1"], "--flips"),
    (["compare", "a", "b", "--alpha", "1"], "--alpha"),
    (["noise", "--candidate", "mock:x", "--suite", "bfcl", "-k", "1"], "--runs"),
    (["noise", "--candidate", "mock:x", "--suite", "bfcl", "--margin", "inf"], "--margin"),
    (["score", "bfcl", "x.jsonl", "-o", "y.jsonl", "--name", "n", "--family", "mock"], "--family"),
    (["no-such-command"], "invalid choice"),
    (["results", "validate"], "required"),
])
def test_bad_options_are_usage_errors(args: list[str], what: str, capsys: pytest.CaptureFixture[str]) -> None:
    fault(args, ExitCode.USAGE_ERROR, capsys, re.escape(what))


def test_unknown_suite_and_candidate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fault(["eval", "--suite", "nope", "--candidate", "mock:x"], ExitCode.USAGE_ERROR, capsys, "unknown suite 'nope'")
    fault(["score", "nope", str(tmp_path / "x"), "-o", str(tmp_path / "y"), "--name", "n"], ExitCode.USAGE_ERROR,
          capsys, "unknown suite")
    fault(["eval", "--suite", "bfcl", "--candidate", "nosuchscheme:x", "--results", str(tmp_path / "r.jsonl")],
          ExitCode.USAGE_ERROR, capsys, "nosuchscheme")


# -- files that are not what they should be -----------------------------------------------
@pytest.mark.parametrize("action", ["validate", "show", "merge"])
def test_missing_file_and_directory(action: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["-o", str(tmp_path / "out.jsonl")] if action == "merge" else []
    fault(["results", action, str(tmp_path / "absent.jsonl"), *extra], ExitCode.USAGE_ERROR, capsys, "no such file")
    fault(["results", action, str(tmp_path), *extra], ExitCode.USAGE_ERROR, capsys, "is a directory")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A FIFO without a writer; a watchdog opens it for writing after 20 s so a reader that
    blocked (the bug this guards against) comes back and the test fails instead of hanging."""
    p = tmp_path / "pipe.jsonl"
    os.mkfifo(p)
    fired = threading.Event()

    def unblock() -> None:
        fired.set()
        with open(p, "w"):
            pass

    timer = threading.Timer(20.0, unblock)
    timer.daemon = True
    timer.start()
    yield p
    timer.cancel()
    assert not fired.is_set(), "a command blocked on a FIFO without a writer"


@pytest.mark.parametrize("action", ["validate", "show", "merge"])
def test_fifo_without_writer_never_hangs(action: str, fifo: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    extra = ["-o", str(tmp_path / "out.jsonl")] if action == "merge" else []
    fault(["results", action, str(fifo), *extra], ExitCode.USAGE_ERROR, capsys, "FIFO")


def test_fifo_as_merge_or_score_output_is_not_replaced(fifo: Path, good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fault(["results", "merge", str(good), "-o", str(fifo)], ExitCode.USAGE_ERROR, capsys, "not a regular file")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    fault(["score", "bfcl", str(good), "-o", str(fifo), "--name", "n"], ExitCode.USAGE_ERROR, capsys, "FIFO")


def test_unreadable_file(good: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        good.chmod(0)
    else:  # root reads everything: make the kernel's answer for this one path "permission denied"
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(good) else real_access(p, m, **kw))
    fault(["results", "validate", str(good)], ExitCode.INVALID_INPUT, capsys, "permission denied")


# -- bad lines -----------------------------------------------------------------------------
@pytest.mark.parametrize("line, reason", [
    ("{not json", "invalid JSON"),
    (json.dumps({"schema_version": 99, "kind": "sample"}), "unknown schema_version 99"),
    (dump_row(_sample(1)).replace('"score":1.0', '"score":NaN'), "score"),
    (dump_row(_sample(1)).replace('"score":1.0', '"score":Infinity'), "score"),
    (json.dumps([1, 2]), "not a JSON object"),
    ("\x00\x01\x02 binary", "invalid JSON"),
])
def test_bad_lines_are_reported_with_file_and_line(line: str, reason: str, good: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with open(good, "a") as fh:
        fh.write(line + "\n")
    code, out, err = run_cli(["results", "validate", str(good)], capsys)
    assert code == ExitCode.INVALID_INPUT and "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith(f"{good}:4:") and reason in err, err
    assert "3 valid rows" in out


def test_output_longer_than_the_limit_is_a_bad_line(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = _sample(9).model_copy(update={"output": "x" * (OUTPUT_LIMIT + 1)})
    with open(good, "a") as fh:
        fh.write(dump_row(row) + "\n")
    code, _, err = run_cli(["results", "validate", str(good)], capsys)
    assert code == ExitCode.INVALID_INPUT and f"{good}:4:" in err and "output" in err


def test_nan_never_reaches_a_gate(tmp_path: Path, good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "nan.jsonl"
    bad.write_text(dump_row(_sample(1)).replace('"score":1.0', '"score":NaN') + "\n")
    fault(["gate", "--candidate-results", str(bad), "--baseline", str(good)], ExitCode.INVALID_INPUT, capsys)


# -- merge never loses a readable row, keeps the mode --------------------------------------
def test_merge_into_an_input_with_an_unreadable_line_is_refused(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open(good, "a") as fh:
        fh.write("{torn")  # a torn last line
    good.chmod(0o600)
    before = good.read_bytes()
    fault(["results", "merge", str(good), "-o", str(good)], ExitCode.INVALID_INPUT, capsys, "would be lost")
    assert good.read_bytes() == before and stat.S_IMODE(good.stat().st_mode) == 0o600


def test_merge_into_an_input_keeps_rows_and_mode(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.jsonl"
    append_rows(other, [_sample(7, run="r2")])
    good.chmod(0o640)
    fault(["results", "merge", str(good), str(other), "-o", str(good)], ExitCode.PASS, capsys)
    assert len(read_rows(good).rows) == 4 and stat.S_IMODE(good.stat().st_mode) == 0o640
    link = tmp_path / "link.jsonl"
    link.symlink_to(good)
    fault(["results", "merge", str(link), "-o", str(link)], ExitCode.PASS, capsys)
    assert link.is_symlink() and len(read_rows(good).rows) == 4  # the target was rewritten, the link kept


def test_merge_over_an_existing_non_input_needs_overwrite(good: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "existing.jsonl"
    append_rows(existing, [_sample(5, run="keep")])
    before = existing.read_bytes()
    fault(["results", "merge", str(good), "-o", str(existing)], ExitCode.INVALID_INPUT, capsys, "--overwrite")
    assert existing.read_bytes() == before
    fault(["results", "merge", str(good), "-o", str(existing), "--overwrite"], ExitCode.PASS, capsys)


def test_merge_to_a_directory(good: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fault(["results", "merge", str(good), "-o", str(tmp_path)], ExitCode.USAGE_ERROR, capsys, "is a directory")


def _in_mount_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private read-only or tiny mount")
    proc = subprocess.run(["unshare", "-m", "sh", "-ec", script], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "SB": " ".join(SPECBOARD)})
    if "unshare failed" in proc.stderr or "mount:" in proc.stderr:
        pytest.skip(f"mount namespace not available here: {proc.stderr.strip()[:200]}")
    return proc


def test_read_only_and_full_disks(good: Path, tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "full").mkdir()
    big = tmp_path / "big.jsonl"
    append_rows(big, [_sample(i, run=f"r{i}") for i in range(200)])
    script = (
        "mount --bind ro ro && mount -o remount,ro,bind ro\n"
        "mount -t tmpfs -o size=8k tmpfs full\n"
        f"set +e\n$SB results merge {good} -o ro/out.jsonl; echo rc=$?\n"
        f"$SB results merge {big} -o full/out.jsonl; echo rc=$?\nls -A full\n"
    )
    proc = _in_mount_namespace(script, tmp_path)
    assert proc.stdout.count(f"rc={int(ExitCode.USAGE_ERROR)}") == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot write ro/out.jsonl: Read-only file system" in lines[0]
    assert "cannot write full/out.jsonl: No space left on device" in lines[1]
    assert proc.stdout.strip().endswith("rc=4")  # nothing (no temp file) left in the full tmpfs


# -- show prints data literally -------------------------------------------------------------
def test_show_prints_markup_and_escapes_literally(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.jsonl"
    tasks = ["[/bold]", "[red]x[/red]", "\x1b[31mred\x1b[0m", "a\rb", ":smile:"]
    append_rows(p, [MetricRow(run_id="r", task=t, metric="acc", value=0.5, n=2) for t in tasks])
    code, out, err = run_cli(["results", "show", str(p)], capsys)
    assert code == ExitCode.PASS and "Traceback" not in err
    assert "[/bold]" in out and "[red]x[/red]" in out and ":smile:" in out
    assert "\x1b" not in out and "\r" not in out and "\\x1b[31mred" in out and "a\\x0db" in out


# -- specboard score ---------------------------------------------------------------------------
def _bfcl_or_skip() -> None:
    from specboard.harness.data.cache import artifact_dir

    try:
        artifact_dir("bfcl-eval")
    except Exception as exc:
        pytest.skip(f"bfcl-eval not prefetched: {exc}")


@pytest.mark.parametrize("line, reason", [
    ({"task": "bfcl/nope", "item_id": "x", "output": ""}, "unknown task 'bfcl/nope'"),
    ({"task": "bfcl/simple_python", "item_id": "zzz", "output": ""}, "unknown item_id 'zzz'"),
    ({"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": 5}, "output must be a string"),
    ({"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": "", "repeat": -1}, "repeat"),
    ({"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": "", "extra": 1}, "unknown field"),
    ("not json", "Expecting value"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_score_reports_bad_lines_and_writes_nothing(line: object, reason: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _bfcl_or_skip()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ok = {"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": "[f(x=1)]"}
    inp.write_text(json.dumps(ok) + "\n" + (line if isinstance(line, str) else json.dumps(line)) + "\n")
    err = fault(["score", "bfcl", str(inp), "-o", str(out), "--name", "n"], ExitCode.INVALID_INPUT, capsys,
                "nothing was scored")
    assert f"{inp}:2: " in err and reason in err and f"{inp}:1:" not in err
    assert not out.exists()


def test_score_refuses_duplicates_empty_input_and_likelihood_tasks(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    _bfcl_or_skip()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    row = json.dumps({"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": "[f(x=1)]"})
    inp.write_text(row + "\n" + row + "\n")
    err = fault(["score", "bfcl", str(inp), "-o", str(out), "--name", "n"], ExitCode.INVALID_INPUT, capsys)
    assert "duplicate of line 1" in err
    inp.write_text("\n")
    fault(["score", "bfcl", str(inp), "-o", str(out), "--name", "n"], ExitCode.INVALID_INPUT, capsys, "no outputs")
    inp.write_text(json.dumps({"task": "threejs/heldout_bpb", "item_id": "x", "output": "y"}) + "\n")
    err = fault(["score", "threejs", str(inp), "-o", str(out), "--name", "n"], ExitCode.INVALID_INPUT, capsys)
    assert "cannot score stored outputs" in err
    fault(["score", "bfcl", str(inp), "-o", str(tmp_path), "--name", "n"], ExitCode.USAGE_ERROR, capsys,
          "is a directory")
    fault(["score", "bfcl", str(inp), "-o", str(inp), "--name", "n"], ExitCode.USAGE_ERROR, capsys,
          "outputs file itself")
    deep = json.dumps({"task": "bfcl/multi_turn_base", "item_id": "multi_turn_base_1", "output": "[" * 100_000})
    inp.write_text(deep + "\n")
    fault(["score", "bfcl", str(inp), "-o", str(out), "--name", "n"], ExitCode.PASS, capsys)  # a parse error sample
    (sample,) = [r for r in read_rows(out).rows if isinstance(r, SampleRow)]
    assert sample.score == 0.0 and "parse error" in (sample.error or "")


def test_score_hostile_bfcl_output_runs_nothing_and_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bfcl_or_skip()
    canary = tmp_path / "canary"
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    evil = f"[f(x=open({str(canary)!r}, 'w').write('x') + 1)"  # closing bracket dropped
    rows = [{"task": "bfcl/irrelevance", "item_id": "irrelevance_0", "output": evil},
            {"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": evil}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fault(["score", "bfcl", str(inp), "-o", str(out), "--name", "api:x"], ExitCode.PASS, capsys)
    assert not canary.exists()
    samples = [r for r in read_rows(out).rows if isinstance(r, SampleRow)]
    assert [s.score for s in samples] == [0.0, 0.0] and all(s.error and "refused" in s.error for s in samples)
    fault(["results", "validate", str(out)], ExitCode.PASS, capsys)


# -- the cache: corrupt or missing while offline ----------------------------------------------
@pytest.fixture
def demo_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import hashlib
    import io
    import zipfile

    from specboard.harness.data import cache

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_pkg/data.txt", b"hello specboard")
    blob = buf.getvalue()
    sha = hashlib.sha256(blob).hexdigest()
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(f'[[artifact]]\nname = "demo"\nversion = "1.0"\nlicense = "MIT"\ndefault = true\n'
                        f'[[artifact.files]]\nregistry = "pypi"\npackage = "demo-pkg"\n'
                        f'filename = "demo_pkg-1.0-py3-none-any.whl"\nsha256 = "{sha}"\nsize = {len(blob)}\n')
    root = tmp_path / "cache"
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / sha).write_bytes(blob)
    monkeypatch.setenv("SPECBOARD_CACHE", str(root))
    monkeypatch.setenv("SPECBOARD_MANIFEST", str(manifest))
    cache._VERIFIED.clear()
    return root / "blobs" / sha


def test_corrupt_or_missing_artifact_offline(demo_cache: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from specboard.harness.data.offline import disable_offline

    fault(["prefetch", "demo"], ExitCode.PASS, capsys)
    good = demo_cache.read_bytes()
    demo_cache.write_bytes(good[:-4] + b"XXXX")  # same size, other bytes
    monkeypatch.setenv("SPECBOARD_OFFLINE", "1")
    try:
        fault(["--offline", "prefetch", "demo"], ExitCode.INVALID_INPUT, capsys, "specboard prefetch demo")
        demo_cache.unlink()
        fault(["--offline", "prefetch", "demo"], ExitCode.USAGE_ERROR, capsys, "specboard prefetch demo")
    finally:
        disable_offline()


# -- a bug is exit 3 with one line and a traceback file, never FAIL ------------------------------
def test_unexpected_exception_is_internal_error(good: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import specboard.harness.commands.results as results_cmd

    def broken(args: object) -> ExitCode:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(results_cmd, "validate", broken)
    code, _, err = run_cli(["results", "validate", str(good)], capsys)
    assert code == ExitCode.INTERNAL_ERROR and len(err.splitlines()) == 1 and "Traceback" not in err
    where = re.search(r"full traceback in (\S+)\)", err)
    assert where and "ZeroDivisionError: a bug" in Path(where.group(1)).read_text()
    Path(where.group(1)).unlink()


# -- kill -9 and resume: every readable row survives, the rerun completes it --------------------
_HANG_AFTER_FIVE = """
import sys, threading
from specboard.harness.cli import main
from specboard.suites.bfcl.task import BfclTask

real, seen = BfclTask.score_output, []


def score_then_hang(self, item, output, *, repeat=0):
    seen.append(item.id)
    if len(seen) > 5:
        threading.Event().wait()
    return real(self, item, output, repeat=repeat)


BfclTask.score_output = score_then_hang
sys.exit(main(sys.argv[1:]))
"""


def test_score_killed_then_resumed(tmp_path: Path) -> None:
    _bfcl_or_skip()
    from specboard.suites import bfcl

    items = [i.id for i in bfcl.BfclTask("irrelevance").items()[:120]]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"task": "bfcl/irrelevance", "item_id": i, "output": "No."}) + "\n"
                           for i in items))
    args = ["score", "bfcl", str(inp), "-o", str(out), "--name", "api:killed"]
    cmd = [*SPECBOARD, *args]
    # The first run's scorer hangs after five items, so the kill lands mid-run however fast
    # the machine is (a race against a quick scorer once let all 120 finish first).
    hang = tmp_path / "hang_after_five.py"
    hang.write_text(_HANG_AFTER_FIVE)
    proc = subprocess.Popen([sys.executable, str(hang), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count('"kind":"sample"') < 5):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = [r for r in read_rows(out).rows if isinstance(r, SampleRow)]
    assert 0 < len(before) < len(items)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = read_rows(out)
    samples = [r for r in rows.rows if isinstance(r, SampleRow)]
    assert len(samples) == len(items) and len({s.item_id for s in samples}) == len(items)
    assert {s.model_dump_json() for s in before} <= {s.model_dump_json() for s in samples}
    statuses = [r.status for r in rows.rows if getattr(r, "kind", "") == "run"]
    assert statuses[0] == "running" and statuses[-1] == "finished" and len({r.run_id for r in samples}) == 1


def test_scoring_code_that_raises_fails_the_run_with_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _bfcl_or_skip()
    from specboard.suites.bfcl.task import BfclTask

    def broken(self: object, item: object, output: str, *, repeat: int = 0) -> object:
        raise KeyError("scorer bug")

    monkeypatch.setattr(BfclTask, "score_output", broken)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text(json.dumps({"task": "bfcl/simple_python", "item_id": "simple_python_0", "output": "[]"}) + "\n")
    code, _, err = run_cli(["score", "bfcl", str(inp), "-o", str(out), "--name", "n"], capsys)
    assert code == ExitCode.INTERNAL_ERROR and len(err.splitlines()) == 1 and "scorer bug" in err
    runs = [r for r in read_rows(out).rows if getattr(r, "kind", "") == "run"]
    assert runs[-1].status == "failed" and not [r for r in read_rows(out).rows if isinstance(r, SampleRow)]
    where = re.search(r"full traceback in (\S+)\)", err)
    if where:
        Path(where.group(1)).unlink()


def test_a_completion_that_exits_early_scores_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from specboard.harness.sandbox import SandboxUnavailableError, sandbox_mode

    try:
        sandbox_mode()
    except SandboxUnavailableError as exc:
        pytest.skip(str(exc))
    from specboard.suites import humaneval

    p = humaneval.problems()[0]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"task": "humaneval/humaneval", "item_id": p["task_id"], "output": "    import os\n    os._exit(0)\n"},
            {"task": "humaneval/humaneval", "item_id": p["task_id"], "output": p["canonical_solution"], "repeat": 1}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fault(["score", "humaneval", str(inp), "-o", str(out), "--name", "api:x"], ExitCode.PASS, capsys)
    samples = sorted((r for r in read_rows(out).rows if isinstance(r, SampleRow)), key=lambda r: r.repeat)
    assert [s.passed for s in samples] == [False, True]
    assert "completion token" in samples[0].extra["reason"]
