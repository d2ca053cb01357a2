"""Tables of the leaderboard, computed with pandas from validated result rows.

Rules (stated on the site too):

- A *board key* names one line of the board: the candidate name, except for checkpoints of
  a training run (``candidate.step`` set), which share the key of their training run
  (``candidate.extra["train_run"]`` if given, else the name without its last path part when
  that part names a checkpoint file — ``ckpt-00000500.egg``, ``best.egg`` — else the name)
  and are shown by their latest step; the By-training-step page shows every step.
- The run shown per (board key, suite): finished runs before unfinished ones, then the
  highest step, then the latest ``started_at``, then the last in the input.
- ``mock``-family candidates are left out unless ``include_mock``; runs of suites without
  metric rows (e.g. efficiency measurements) are not board runs.
- A metric row's *primary* metric is the first metric written for its (run, task); tasks not
  listed in the run's ``protocol.tasks`` (``bfcl/overall`` ...) are *aggregates*.
- Each suite shows one headline metric (:mod:`.headline`); there is no score across suites
  (a composite of unrelated tasks misleads).
- A specialist's *domain* suites: those it declares (``CandidateInfo.extra["domain"]``, e.g.
  a ``[[specialist]]`` row's ``domain = ["bfcl"]``: the tool-calling set is not cut from BFCL's
  data) and those whose runs read the data artifact its training corpus came from
  (``CandidateInfo.corpus`` ``three@0.170.0:train`` → artifact ``three`` → the suites whose
  ``protocol.data_sha256`` has ``three``); every other suite is *general*.
- Training curves: only training runs with at least two evaluated steps, on one item set
  (order, limit, seed, suite version: the one most of its checkpoints were evaluated on).
- Pareto front: a point is on it when no other point is at least as good on both axes and
  better on one (lower is better for params/bytes/RSS, higher for tokens/s).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from specboard.harness.results.schema import RunRow
from specboard.leaderboard.headline import Headline, headline_rows
from specboard.leaderboard.load import Results

_CKPT_FILE = re.compile(r"ckpt|checkpoint|step|best|latest|\.\w+$", re.IGNORECASE)
"""A last path part naming one checkpoint file (grouped under its directory)."""
FAMILY_ORDER = {"specialist": 0, "baseline": 1, "floor": 2, "mock": 3}

COST_AXES: dict[str, tuple[str, bool]] = {
    # column -> (label, lower is better)
    "params": ("parameters", True),
    "bytes_on_disk": ("bytes on disk", True),
    "peak_rss_bytes": ("peak RSS (bytes)", True),
    "tokens_per_s": ("tokens/s", False),
}


def train_run_key(run: RunRow) -> str | None:
    """The training run a checkpoint belongs to, or None for models not trained here."""
    info = run.candidate
    if info.step is None:
        return None
    scheme, _, target = info.name.partition(":")
    group = info.extra.get("train_run") if isinstance(info.extra, dict) else None
    if isinstance(group, str) and group:
        return f"{scheme}:{group}" if target else group
    body = target or info.name
    head, _, last = body.rpartition("/")
    if not head or not _CKPT_FILE.search(last):
        return info.name  # a run directory (its best/latest checkpoint): the run itself
    return f"{scheme}:{head}" if target else head


def _train_seconds(run: RunRow) -> float | None:
    """Training seconds up to a checkpoint, where the trainer recorded them in ``extra``."""
    extra = run.candidate.extra if isinstance(run.candidate.extra, dict) else {}
    for k in ("train_seconds", "training_seconds", "elapsed_s", "wall_s"):
        v = extra.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            return float(v)
    return None


def corpus_artifact(corpus: str | None) -> str | None:
    """``three@0.170.0:train`` → ``three`` (the data artifact a corpus was cut from)."""
    if not corpus:
        return None
    return corpus.split(":", 1)[0].split("@", 1)[0] or None


def suite_artifacts(results: Results) -> dict[str, set[str]]:
    """Suite → names of the data artifacts its runs read (``protocol.data_sha256`` keys)."""
    out: dict[str, set[str]] = {}
    for r in results.runs:
        out.setdefault(r.protocol.suite, set()).update(r.protocol.data_sha256)
    return out


def domain_suites(corpus: str | None, artifacts: dict[str, set[str]], declared: str | None = None) -> set[str]:
    """The suites a model trained on ``corpus`` specialises in, plus the ``declared`` ones
    (comma-separated, as :func:`runs_frame` stores ``extra["domain"]``; see the module rules)."""
    name = corpus_artifact(corpus)
    found = {s for s, names in artifacts.items() if name is not None and (name in names or name == s)}
    return found | {s for s in (declared or "").split(",") if s}


def _declared_domain(run: RunRow) -> str | None:
    d = run.candidate.extra.get("domain")
    if isinstance(d, str):
        return d or None
    if isinstance(d, list | tuple) and all(isinstance(s, str) for s in d):
        return ",".join(d) or None
    return None


def runs_frame(results: Results) -> pd.DataFrame:
    """One row per run id (its last run row), in order of first appearance."""
    last: dict[str, tuple[int, RunRow]] = {}
    first: dict[str, int] = {}
    for i, r in enumerate(results.runs):
        first.setdefault(r.run_id, i)
        last[r.run_id] = (i, r)
    records = []
    for run_id, (_, r) in last.items():
        group = train_run_key(r)
        records.append({
            "run_id": run_id, "candidate": r.candidate.name, "family": r.candidate.family,
            "key": group or r.candidate.name, "train_run": group, "step": r.candidate.step,
            "tokens_seen": r.candidate.tokens_seen, "params": r.candidate.params,
            "corpus": r.candidate.corpus, "domain": _declared_domain(r), "train_seconds": _train_seconds(r),
            "items": f"{r.protocol.order}/{r.protocol.limit}/{r.protocol.seed}/{r.protocol.suite_version}",
            "bytes_on_disk": r.candidate.bytes_on_disk, "trainer": r.candidate.trainer,
            "suite": r.protocol.suite, "status": r.status,
            "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "order": first[run_id],
        })
    cols = ["run_id", "candidate", "family", "key", "train_run", "step", "tokens_seen", "corpus", "domain",
            "train_seconds", "items", "params",
            "bytes_on_disk", "trainer", "suite", "status", "started_at", "finished_at", "order"]
    df = pd.DataFrame.from_records(records, columns=cols)
    for c in ("step", "tokens_seen", "params", "bytes_on_disk"):
        df[c] = df[c].astype("Int64")
    return df


def metrics_frame(results: Results, runs: pd.DataFrame) -> pd.DataFrame:
    """Metric rows (last per run/task/metric) joined with their run's candidate."""
    protocol_tasks = {r.run_id: set(r.protocol.tasks) for r in results.runs}
    records: dict[tuple[str, str, str], dict[str, Any]] = {}
    primary: dict[tuple[str, str], str] = {}
    for i, m in enumerate(results.metrics):
        primary.setdefault((m.run_id, m.task), m.metric)
        tasks = protocol_tasks.get(m.run_id, set())
        records[(m.run_id, m.task, m.metric)] = {
            "run_id": m.run_id, "task": m.task, "metric": m.metric, "value": m.value,
            "n": m.n, "stderr": m.stderr, "ci_low": m.ci_low, "ci_high": m.ci_high,
            "ci_level": m.ci_level, "ci_method": m.ci_method,
            "higher_is_better": m.higher_is_better, "aggregation": m.aggregation,
            "is_aggregate": bool(tasks) and m.task not in tasks, "order": i,
        }
    df = pd.DataFrame.from_records(list(records.values()), columns=[
        "run_id", "task", "metric", "value", "n", "stderr", "ci_low", "ci_high", "ci_level",
        "ci_method", "higher_is_better", "aggregation", "is_aggregate", "order"])
    df["primary"] = pd.Series([primary[(r, t)] == m for r, t, m in zip(df.run_id, df.task, df.metric, strict=True)],
                              index=df.index, dtype=bool)
    df["is_aggregate"] = df["is_aggregate"].astype(bool)
    df["higher_is_better"] = df["higher_is_better"].astype(bool)
    info = runs.drop(columns=["order"])
    return df.merge(info, on="run_id", how="inner").sort_values("order", kind="stable").reset_index(drop=True)


def board_runs(runs: pd.DataFrame, metrics: pd.DataFrame, *, include_mock: bool = False) -> pd.DataFrame:
    """The run shown for each (board key, suite); see the module rules."""
    df = runs[runs.run_id.isin(set(metrics.run_id))].copy()
    if not include_mock:
        df = df[df.family != "mock"]
    df["_finished"] = (df.status == "finished").astype(int)
    df["_step"] = df.step.fillna(-1).astype("int64")
    df = df.sort_values(["key", "suite", "_finished", "_step", "started_at", "order"], kind="stable")
    picked = df.groupby(["key", "suite"], sort=True).tail(1)
    return picked.drop(columns=["_finished", "_step"]).sort_values(["key", "suite"]).reset_index(drop=True)


def efficiency_frame(results: Results, runs: pd.DataFrame) -> pd.DataFrame:
    """Per board key, each efficiency field from the latest measurement that has it (by run
    start, then input order): one benchmark writes decode speed at batch 1 and scoring speed
    at larger batches in separate rows. ``tokens_per_s`` is decode speed, else scoring, else
    prefill, with its kind."""
    by_run = runs.set_index("run_id")
    fields = ("params", "bytes_on_disk", "peak_rss_bytes", "decode_tokens_per_s", "score_tokens_per_s",
              "prefill_tokens_per_s", "threads")
    records = []
    for i, e in enumerate(results.efficiency):
        if e.run_id not in by_run.index:
            continue
        run = by_run.loc[e.run_id]
        records.append({"key": run["key"], **{f: getattr(e, f) for f in fields},
                        "started_at": run["started_at"], "order": i, "efficiency_run_id": e.run_id})
    cols = ["key", "params", "bytes_on_disk", "peak_rss_bytes", "tokens_per_s", "tokens_per_s_kind",
            "threads", "efficiency_run_id"]
    if not records:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame.from_records(records).sort_values(["started_at", "order"], kind="stable")
    last = df.groupby("key", sort=True).last()  # last non-null value of each column
    out = []
    for key, r in last.iterrows():
        tps, kind = None, None
        for attr in ("decode_tokens_per_s", "score_tokens_per_s", "prefill_tokens_per_s"):
            if pd.notna(r[attr]):
                tps, kind = float(r[attr]), attr.removesuffix("_tokens_per_s")
                break
        out.append({"key": key, "params": r["params"], "bytes_on_disk": r["bytes_on_disk"],
                    "peak_rss_bytes": r["peak_rss_bytes"], "tokens_per_s": tps, "tokens_per_s_kind": kind,
                    "threads": r["threads"], "efficiency_run_id": r["efficiency_run_id"]})
    return pd.DataFrame.from_records(out, columns=cols)


def verdicts_frame(results: Results) -> pd.DataFrame:
    """Verdict rows with their input order (later rows are later gate runs)."""
    records = [{**v.model_dump(mode="json", exclude={"extra", "schema_version", "kind"}),
                "extra": v.extra, "order": i} for i, v in enumerate(results.verdicts)]
    cols = ["run_id", "baseline_run_id", "task", "verdict", "metric", "delta", "ci_low", "ci_high",
            "margin", "alpha", "method", "n_pairs", "p_value", "p_adjusted", "reason", "extra", "order"]
    return pd.DataFrame.from_records(records, columns=cols)


def latest_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The overall verdict of the latest gate run of each candidate run (last in the input)."""
    overall = verdicts[verdicts.task == "__overall__"]
    return overall.sort_values("order", kind="stable").groupby("run_id").tail(1).set_index("run_id")


def overview_table(board_metrics: pd.DataFrame, board: pd.DataFrame,
                   efficiency: pd.DataFrame) -> tuple[pd.DataFrame, list[Headline]]:
    """One row per board key: family, size, speed and each suite's headline with its interval;
    ordered specialists, baselines, floors (then by key)."""
    values, heads = headline_rows(board_metrics)
    rows: dict[str, dict[str, Any]] = {}
    for k, g in board.groupby("key", sort=True):
        last = g.sort_values(["started_at", "order"]).iloc[-1]
        rows[str(k)] = {"key": str(k), "family": last.family, "step": last.step, "params": last.params,
                        "bytes_on_disk": last.bytes_on_disk, "candidate": last.candidate,
                        "corpus": last.corpus, "domain": last.domain, "trainer": last.trainer}
    for e in efficiency.to_dict("records"):
        if e["key"] in rows:
            for c in ("params", "bytes_on_disk", "peak_rss_bytes", "tokens_per_s", "tokens_per_s_kind"):
                v = e[c]
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    rows[e["key"]][c] = v
    by_suite = {h.suite: h for h in heads}
    for m in values.to_dict("records"):
        h = by_suite[m["suite"]]
        if m["key"] in rows:
            rows[m["key"]].update({f"{h.id}|{c}": m[c] for c in ("value", "ci_low", "ci_high", "n", "run_id")})
    cols = ["key", "family", "step", "params", "bytes_on_disk", "peak_rss_bytes", "tokens_per_s",
            "tokens_per_s_kind", "candidate", "corpus", "domain", "trainer"]
    df = pd.DataFrame.from_records(list(rows.values())) if rows else pd.DataFrame(columns=cols)
    for col in cols:
        if col not in df.columns:
            df[col] = np.nan
    for col in df.columns:
        if col.endswith("|n"):
            df[col] = df[col].astype("Int64")
    df["_group"] = df.family.map(FAMILY_ORDER).fillna(9)
    df = df.sort_values(["_group", "key"], kind="stable").drop(columns=["_group"])
    return df.reset_index(drop=True), heads


def step_curves(metrics: pd.DataFrame, *, min_steps: int = 2) -> pd.DataFrame:
    """Every checkpoint's metrics per training run, one row per (run, task, metric, step);
    only (training run, task, metric) curves with at least ``min_steps`` distinct steps."""
    trained = metrics[metrics.train_run.notna() & metrics.step.notna() & (metrics.family != "mock")]
    trained = trained.sort_values(["started_at", "order"], kind="stable")
    trained = trained.groupby(["train_run", "task", "metric", "items", "step"]).tail(1)
    # one curve per (run, task, metric): the item set (order/limit/seed/version) most steps share
    steps = trained.groupby(["train_run", "task", "metric", "items"]).step.transform("nunique")
    best = steps.groupby([trained.train_run, trained.task, trained.metric]).transform("max")
    trained = trained[(steps == best) & (steps >= min_steps)]
    trained = trained.groupby(["train_run", "task", "metric", "step"]).tail(1)
    return trained.sort_values(["train_run", "task", "metric", "step"]).reset_index(drop=True)


def pareto_front(x: pd.Series, y: pd.Series, *, x_lower_better: bool, y_higher_better: bool) -> pd.Series:
    """Boolean mask of the points no other point dominates."""
    xs = (x if x_lower_better else -x).to_numpy(dtype=float)
    ys = (-y if y_higher_better else y).to_numpy(dtype=float)  # both minimised from here
    front = []
    for i in range(len(xs)):
        dominated = np.any((xs <= xs[i]) & (ys <= ys[i]) & ((xs < xs[i]) | (ys < ys[i])))
        front.append(not dominated)
    return pd.Series(front, index=x.index, dtype=bool)


def pareto_points(overview: pd.DataFrame, head: Headline, axis: str) -> pd.DataFrame:
    """Candidates with both the headline value and the cost axis, and the front mask."""
    vcol = f"{head.id}|value"
    if vcol not in overview.columns or axis not in overview.columns:
        return pd.DataFrame(columns=["key", "family", "x", "y", "front"])
    pts = overview[["key", "family", axis, vcol]].rename(columns={axis: "x", vcol: "y"})
    pts = pts[pd.to_numeric(pts.x, errors="coerce").notna() & pts.y.notna()].copy()
    pts["x"] = pts.x.astype(float)
    pts["y"] = pts.y.astype(float)
    pts["front"] = pareto_front(pts.x, pts.y, x_lower_better=COST_AXES[axis][1],
                                y_higher_better=head.higher_is_better)
    return pts.sort_values(["x", "key"]).reset_index(drop=True)
