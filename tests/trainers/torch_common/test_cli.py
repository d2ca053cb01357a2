"""The torch trainers' command lines parse without importing torch, transformers or peft."""

from __future__ import annotations


def test_cli_modules_import_no_heavy_deps() -> None:
    import subprocess
    import sys

    code = ("import argparse, sys; import specboard.trainers.distill.cli as d, specboard.trainers.sft.cli as s; "
            "d.add_arguments(argparse.ArgumentParser()); s.add_arguments(argparse.ArgumentParser()); "
            "print(sorted(m for m in ('torch', 'transformers', 'peft', 'trl') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
