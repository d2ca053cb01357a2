"""The fused EGG population forward: the whole model for every member in one parallel region.

``forward(plan, seq, states, ...)`` runs the EGG model of ``docs/eggroll.md``
§2 (embedding, L × [LN1, GRU, residual, LN2, MLP, residual], LN_out, head) for all P
members over T tokens and returns each member's Σ_t integer log2-likelihood of the next byte
(spec §3) — or, without noise, the logits (held-out evaluation). It is bit-identical to
``trainers/eggroll/model.py``'s ``EggModel.forward`` followed by ``ops.log2_softmax_score``
(tested), but:

- one ``prange`` over 32-member groups (16 antithetic pairs) for the whole step: members
  never wait for each other, and there is one thread hand-off per step instead of ~10 per
  token and layer;
- within a group, tokens go in chunks of ``Plan.chunk``: each layer runs its input-side
  products (``Wf x``, ``Wh x``, the MLP, the head) for the whole chunk tile by tile, so an
  8-row weight tile stays in L1 across the chunk's tokens, and only ``Uf h`` / ``Uh g`` run
  token by token (the recurrence); the order of operations per member is the model's;
- the noise of the group's pairs is generated inside the step from the counters
  (``_eggops.noise_mat``/``noise_vec``) into a per-thread workspace, never materialised for
  the population nor tiled over T;
- every matrix product is a ``_tile`` VNNI tile whose epilogue adds the rank-1 term,
  requantises and writes the next GEMM's packed input directly (no packing passes); the
  member projections ``x · b`` are ``_tile.project16`` (``vpdpbusd`` per 64 bytes);
- no allocations per step: the workspace belongs to the ``Plan`` and is reused.

Per-phase CPU cycles (``rdtsc``, per thread; a descheduled thread's wait is charged to the
phase it was in) are accumulated into ``prof`` when asked (``PHASES`` names them).

Not handled (``Plan.supported`` says why, and the model falls back to its ``ops`` path):
CPUs without the VNNI path, ``d_model % 8 != 0``, or noise/width combinations whose rank-1
sums could leave int32 (``_gemm.int32_safe``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange
from specboard.kernels import _eggops as E
from specboard.kernels import reference as R
from specboard.kernels._gemm import int32_safe, row_sums
from specboard.kernels._tile import make_tile, project16

PHASES = ("noise", "embed", "layernorm", "project", "gemm_input", "gemm_recurrent", "gates",
          "gemm_mlp", "residual", "gemm_head", "score", "state_io")
_TP = make_tile(2, True, False, False)
_TN = make_tile(2, False, False, False)
_FLIP = 0x80808080 - 2**32
# slots of the per-thread workspace (byte offsets in ``lay``); H0 + 2l: state h, + 1: h + 128
X, XN, XF, XH, UF, UH, F, GU, HID, OUT, LOG, XB, T32, T64, TOK, H0 = range(16)
GROUP = E.GROUP


def param_layout(d: int, layers: int, mlp_mult: int, vocab: int = 256) -> list[tuple[str, tuple[int, ...]]]:
    """Parameter names and shapes in the order the kernel expects (``model.param_specs``)."""
    h = d * mlp_mult
    out: list[tuple[str, tuple[int, ...]]] = [("emb", (vocab, d))]
    for i in range(layers):
        p = f"l{i}."
        out += [(p + "ln1", (d,)), (p + "Wf", (d, d)), (p + "Uf", (d, d)), (p + "bf", (d,)),
                (p + "Wh", (d, d)), (p + "Uh", (d, d)), (p + "bh", (d,)), (p + "ln2", (d,)),
                (p + "W1", (h, d)), (p + "W2", (d, h))]
    return [*out, ("ln_out", (d,)), ("head", (vocab, d))]


@dataclass
class Plan:
    """Layout of one model shape: flat weights, parameter table, per-thread workspace."""

    d: int
    layers: int
    mlp_mult: int
    threads: int
    chunk: int = 8
    """Tokens per pass over the weights: layer-major within a chunk (see ``_group``)."""
    vocab: int = 256
    names: list[str] = field(default_factory=list)
    ptab: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    lay: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ws8: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    ws16: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int16))

    def __post_init__(self) -> None:
        layout = param_layout(self.d, self.layers, self.mlp_mult, self.vocab)
        self._layout = layout
        self.names = [n for n, _ in layout]
        rows, woff, roff, a8, v16 = [], 0, 0, 0, 0
        for _, shape in layout:
            if len(shape) == 2:
                m, n = shape
                rows.append((woff, m, n, roff, a8, a8 + 16 * m))
                a8 += 16 * m + 32 * n
                roff += m
            else:
                rows.append((woff, shape[0], 0, -1, v16, 0))
                v16 += 32 * shape[0]
            woff += int(np.prod(shape))
        self.scratch = a8                     # 2 × the widest row: noise draws before packing
        a8 += 2 * max(max(s) for _, s in layout)
        self.ptab = np.array(rows, dtype=np.int64)
        self.total, self.total_rows = woff, roff
        d, hid, c = self.d, self.d * self.mlp_mult, self.chunk
        # X, XN, XF, XH hold ``chunk`` token slots; XF doubles as the MLP output
        widths = [c * d, c * d, c * d, c * d, d, d, d, d, c * hid, 0, c * self.vocab]
        sizes = [GROUP * w for w in widths] + [4 * GROUP * c, 4 * 256, 8 * 256, 4 * GROUP * c]
        sizes += [GROUP * d] * (2 * self.layers)
        lay, off = [], -(-a8 // 64) * 64
        for size in sizes:
            lay.append(off)
            off += -(-size // 64) * 64
        self.lay = np.array(lay, dtype=np.int64)
        self.ws8 = np.zeros((self.threads, off), np.uint8)
        self.ws16 = np.zeros((self.threads, max(v16, 1)), np.int16)

    def flatten(self, params: dict[str, np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        """All parameters in kernel order as one int8 array (written into ``out`` if given)."""
        parts = [np.asarray(params[n], np.int8).reshape(-1) for n in self.names]
        return np.concatenate(parts, out=out)

    def views(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Each parameter as a view into a flat buffer laid out like :meth:`flatten`."""
        out = {}
        for name, (_, shape), row in zip(self.names, self._layout, self.ptab, strict=True):
            out[name] = flat[row[0]: row[0] + int(np.prod(shape))].reshape(shape)
        return out


_PLANS: dict[tuple[int, int, int, int], Plan] = {}


def plan_for(d: int, layers: int, mlp_mult: int, threads: int) -> Plan:
    """A shared ``Plan`` per shape: its workspace is reused by every model of that shape in
    the process (forward calls never overlap: each runs to completion on the calling thread)."""
    key = (d, layers, mlp_mult, threads)
    if key not in _PLANS:
        _PLANS[key] = Plan(d, layers, mlp_mult, threads)
    return _PLANS[key]


def supported(d: int, bound: int, mlp_mult: int) -> str | None:
    """Why the fused forward cannot run this shape here, or ``None``."""
    from specboard.kernels import cpu
    ok, why = cpu.vnni_status()
    if not ok:
        return f"no VNNI path ({why})"
    if d % 8:
        return f"d_model {d} is not a multiple of 8"
    for n in (d, d * mlp_mult):
        if not int32_safe(n, bound, bound):
            return f"noise bound {bound} at width {n} could overflow the int32 epilogue"
    return None


def weight_row_sums(plan: Plan, flat: np.ndarray) -> np.ndarray:
    """Row sums of every matrix (int32, in ``ptab`` row order): once per weight update."""
    rs = np.empty(plan.total_rows, np.int32)
    _row_sums_all(flat, plan.ptab, rs)
    return rs


@njit(cache=True)
def _row_sums_all(flat, ptab, rs):  # type: ignore[no-untyped-def]
    for pid in range(ptab.shape[0]):
        woff, m, n, roff = ptab[pid, 0], ptab[pid, 1], ptab[pid, 2], ptab[pid, 3]
        if n > 0:
            row_sums(flat[woff: woff + m * n], m, n, rs[roff: roff + m])


@njit(cache=True, boundscheck=False)
def _tiles_p(ws8, xoff, ooff, tc, xor, flat, woff, m, n, rs, roff, xb, aoff, ns, shift):  # type: ignore[no-untyped-def]
    for ri in range(m // 8):
        i0 = ri * 8
        for tt in range(tc):
            _TP(ws8, xoff + tt * GROUP * n, flat, woff + i0 * n, n, n // 4, rs, roff + i0, xb,
                tt * GROUP, ws8, aoff + i0, m, ws8, ooff + tt * GROUP * m + (i0 // 4) * 64,
                m * 16, GROUP, 0, ns, shift, xor)


@njit(cache=True, boundscheck=False)
def _tiles_n(ws8, xoff, ooff, tc, xor, flat, woff, m, n, rs, roff, xb, aoff, ns, shift):  # type: ignore[no-untyped-def]
    for ri in range(m // 8):
        i0 = ri * 8
        for tt in range(tc):
            _TN(ws8, xoff + tt * GROUP * n, flat, woff + i0 * n, n, n // 4, rs, roff + i0, xb,
                tt * GROUP, ws8, aoff + i0, m, ws8, ooff + tt * GROUP * m + (i0 // 4) * 64,
                m * 16, GROUP, 0, ns, shift, xor)


@njit(cache=True, boundscheck=False)
def _lin(pid, xoff, ooff, tc, xor, ws8, flat, rs, ptab, shifts, pert, ns, xb):  # type: ignore[no-untyped-def]
    """Parameter ``pid`` applied to ``tc`` token slots (input slot stride ``32·n`` from
    ``xoff``, output stride ``32·m`` from ``ooff``): projections ``x · b``, then for each
    8-row tile every token (the tile's weight rows stay in L1). Returns the rdtsc between."""
    woff, m, n, roff, aoff, boff = (ptab[pid, 0], ptab[pid, 1], ptab[pid, 2], ptab[pid, 3],
                                    ptab[pid, 4], ptab[pid, 5])
    if pert:
        for tt in range(tc):
            for c in range(2):
                project16(ws8, xoff + tt * GROUP * n + c * 16 * n, ws8, boff + c * 16 * n, n // 4,
                          xb, tt * GROUP + 16 * c)
    t = E.rdtsc()
    if pert:
        _tiles_p(ws8, xoff, ooff, tc, xor, flat, woff, m, n, rs, roff, xb, aoff, ns, shifts[pid])
    else:
        _tiles_n(ws8, xoff, ooff, tc, xor, flat, woff, m, n, rs, roff, xb, aoff, ns, shifts[pid])
    return t


@njit(cache=True, boundscheck=False)
def _states(states, p0, cnt, d, ws8, lay, layers, store):  # type: ignore[no-untyped-def]
    """Pack the group's recurrent states into the workspace (or unpack them when ``store``)."""
    d4 = d // 4
    for li in range(layers):
        h = ws8[lay[H0 + 2 * li]:].view(np.int8)
        hu = ws8[lay[H0 + 2 * li + 1]:]
        for c in range(2):
            for lane in range(16):
                p = 16 * c + lane
                for j in range(d):
                    q = c * d4 * 64 + (j // 4) * 64 + lane * 4 + j % 4
                    if store:
                        if p < cnt:
                            states[li, p0 + p, j] = h[q]
                    else:
                        v = states[li, p0 + p, j] if p < cnt else np.int8(0)
                        h[q] = v
                        hu[q] = np.uint8(np.int32(v) + 128)


@njit(cache=True, boundscheck=False, inline="always")
def _tick(prof, tid, ph, t0, on):  # type: ignore[no-untyped-def]
    if not on:
        return t0
    t1 = E.rdtsc()
    prof[tid, ph] += t1 - t0
    return t1


@njit(cache=True, boundscheck=False, inline="always")
def _tick2(prof, tid, ph, t0, t1, on):  # type: ignore[no-untyped-def]
    """Charge ``t1 - t0`` to the projection, ``now - t1`` to phase ``ph``."""
    if not on:
        return t0
    prof[tid, 3] += t1 - t0
    return _tick(prof, tid, ph, t1, on)


@njit(cache=True, boundscheck=False)
def _noise(flat, ptab, keys, k0, bound, vns, pert, ws8, ws16, scratch):  # type: ignore[no-untyped-def]
    tmp = ws8[scratch:]
    for pid in range(ptab.shape[0]):
        woff, m, n = ptab[pid, 0], ptab[pid, 1], ptab[pid, 2]
        if n > 0:
            if pert:
                E.noise_mat(keys[pid], k0, m, n, bound, ws8, ptab[pid, 4], ptab[pid, 5], tmp)
        else:
            E.noise_vec(keys[pid], k0, flat[woff: woff + m], bound, vns, pert,
                        ws16[ptab[pid, 4]: ptab[pid, 4] + GROUP * m], tmp)


@njit(cache=True, boundscheck=False)
def _layer(li, t0, tc, tok, flat, rs, ptab, shifts, d, hid, pert, ns, ws8, ws16, lay, prof,  # type: ignore[no-untyped-def]
           tid, tm, on):
    """Layer ``li`` for the ``tc`` token slots of a chunk (inputs/outputs in slot X)."""
    b = 1 + 10 * li
    sz = GROUP * d
    hl, hu = lay[H0 + 2 * li], lay[H0 + 2 * li + 1]
    x8 = ws8[lay[X]:].view(np.int8)
    xb, t32 = ws8[lay[XB]:].view(np.int32), ws8[lay[T32]:].view(np.int32)
    tf = ws8[lay[T64]:].view(np.float32)
    for tt in range(tc):
        E.layernorm(x8[tt * sz:], ws16[ptab[b, 4]:], d, ws8[lay[XN] + tt * sz:], t32, tf)
    tm = _tick(prof, tid, 2, tm, on)
    for pid, dst in ((b + 1, lay[XF]), (b + 4, lay[XH])):
        t1 = _lin(pid, lay[XN], dst, tc, 0, ws8, flat, rs, ptab, shifts, pert, ns, xb)
        tm = _tick2(prof, tid, 4, tm, t1, on)
    for tt in range(tc):
        for p in range(GROUP):
            if tok[tt * GROUP + p] == 0:  # a document starts: this layer's state resets
                E.zero_lane(ws8, hl, hu, p, d)
        t1 = _lin(b + 2, hu, lay[UF], 1, 0, ws8, flat, rs, ptab, shifts, pert, ns, xb)
        tm = _tick2(prof, tid, 5, tm, t1, on)
        E.gru_gate(ws8[lay[XF] + tt * sz:], ws8[lay[UF]:], ws16[ptab[b + 3, 4]:],
                   ws8[hl:].view(np.int8), sz, ws8[lay[F]:], ws8[lay[GU]:])
        tm = _tick(prof, tid, 6, tm, on)
        t1 = _lin(b + 5, lay[GU], lay[UH], 1, 0, ws8, flat, rs, ptab, shifts, pert, ns, xb)
        tm = _tick2(prof, tid, 5, tm, t1, on)
        E.gru_update(ws8[lay[XH] + tt * sz:], ws8[lay[UH]:], ws16[ptab[b + 6, 4]:],
                     ws8[lay[F]:], ws8[hl:].view(np.int8), ws8[hu:], x8[tt * sz:], sz)
        tm = _tick(prof, tid, 6, tm, on)
    for tt in range(tc):
        E.layernorm(x8[tt * sz:], ws16[ptab[b + 7, 4]:], d, ws8[lay[XN] + tt * sz:], t32, tf)
    tm = _tick(prof, tid, 2, tm, on)
    t1 = _lin(b + 8, lay[XN], lay[HID], tc, _FLIP, ws8, flat, rs, ptab, shifts, pert, ns, xb)
    tm = _tick2(prof, tid, 7, tm, t1, on)
    t1 = _lin(b + 9, lay[HID], lay[XF], tc, 0, ws8, flat, rs, ptab, shifts, pert, ns, xb)
    tm = _tick2(prof, tid, 7, tm, t1, on)
    E.sat_add_into(ws8[lay[XF]:], x8, tc * sz)
    return _tick(prof, tid, 8, tm, on)


@njit(cache=True, boundscheck=False)
def _group(g, seq, tlen, scoring, states, flat, rs, ptab, shifts, keys, kbase, cfg, ws8, ws16,  # type: ignore[no-untyped-def]
           lay, scores, logits, want_logits, prof, tid, exp2, frac):
    """All T tokens of group ``g`` (see the module docstring). ``cfg`` = (d, layers, P,
    bound, ns, vns, pert, profile, hidden, chunk, scratch offset)."""
    d, layers, p_, bound, ns, vns = cfg[0], cfg[1], cfg[2], cfg[3], cfg[4], cfg[5]
    pert, on, hid, chunk = cfg[6] != 0, cfg[7] != 0, cfg[8], cfg[9]
    p0 = g * GROUP
    cnt = min(GROUP, p_ - p0)
    sz = GROUP * d
    t64, tok = ws8[lay[T64]:].view(np.int64), ws8[lay[TOK]:].view(np.int32)
    x8 = ws8[lay[X]:].view(np.int8)
    nl = ptab.shape[0]
    emb = flat[ptab[0, 0]: ptab[0, 0] + ptab[0, 1] * d].reshape(ptab[0, 1], d)
    tm = E.rdtsc()
    _noise(flat, ptab, keys, kbase + p0 // 2, bound, vns, pert, ws8, ws16, cfg[10])
    tm = _tick(prof, tid, 0, tm, on)
    _states(states, p0, cnt, d, ws8, lay, layers, False)
    tm = _tick(prof, tid, 11, tm, on)
    for t0 in range(0, tlen, chunk):
        tc = min(chunk, tlen - t0)
        for tt in range(tc):
            for p in range(GROUP):
                tok[tt * GROUP + p] = np.int32(seq[p0 + p, t0 + tt]) if p < cnt else 1
            E.embed(emb, d, tok[tt * GROUP:], ws8[ptab[0, 4]:], ws8[ptab[0, 5]:], ns, pert,
                    x8[tt * sz:])
        tm = _tick(prof, tid, 1, tm, on)
        for li in range(layers):
            tm = _layer(li, t0, tc, tok, flat, rs, ptab, shifts, d, hid, pert, ns, ws8, ws16,
                        lay, prof, tid, tm, on)
        for tt in range(tc):
            E.layernorm(x8[tt * sz:], ws16[ptab[nl - 2, 4]:], d, ws8[lay[XN] + tt * sz:],
                        ws8[lay[T32]:].view(np.int32), t64.view(np.float32))
        tm = _tick(prof, tid, 2, tm, on)
        t1 = _lin(nl - 1, lay[XN], lay[LOG], tc, 0, ws8, flat, rs, ptab, shifts, pert, ns,
                  ws8[lay[XB]:].view(np.int32))
        tm = _tick2(prof, tid, 9, tm, t1, on)
        for tt in range(tc):
            lg = ws8[lay[LOG] + tt * GROUP * 256:]
            if scoring:
                for p in range(GROUP):
                    tok[tt * GROUP + p] = np.int32(seq[p0 + p, t0 + tt + 1]) if p < cnt else 0
                E.score(lg, 256, tok[tt * GROUP:], exp2, frac, ws8[lay[T32]:].view(np.int32),
                        scores[p0:], cnt)
            if want_logits:
                E.unpack_logits(lg, logits[t0 + tt], p0, cnt)
        tm = _tick(prof, tid, 10, tm, on)
    _states(states, p0, cnt, d, ws8, lay, layers, True)
    _tick(prof, tid, 11, tm, on)


@njit(cache=True, parallel=True)
def _forward(seq, tlen, scoring, states, flat, rs, ptab, shifts, keys, kbase, cfg, ws8, ws16,  # type: ignore[no-untyped-def]
             lay, scores, logits, want_logits, prof, exp2, frac):
    ngroups = (cfg[2] + GROUP - 1) // GROUP
    for g in prange(ngroups):
        tid = numba.get_thread_id()
        _group(g, seq, tlen, scoring, states, flat, rs, ptab, shifts, keys, kbase, cfg,
               ws8[tid], ws16[tid], lay, scores, logits, want_logits, prof, tid, exp2, frac)


def noise_keys(seed: int, step: int, count: int) -> np.ndarray:
    """``reference.noise_base(seed, step, pid)`` for parameter ids ``0 .. count-1``."""
    return np.array([R.noise_base(seed, step, pid) for pid in range(count)], dtype=np.uint64)


def forward(plan: Plan, flat: np.ndarray, rs: np.ndarray, seq: np.ndarray, states: np.ndarray, *,
            shifts: np.ndarray, keys: np.ndarray | None, pair_offset: int = 0, bound: int = 31,
            noise_shift: int = 7, vec_noise_shift: int = 7, scoring: bool = True,
            logits: np.ndarray | None = None, prof: np.ndarray | None = None) -> np.ndarray:
    """Run the fused forward; returns int64 scores ``[P]`` (zeros when not ``scoring``).

    ``seq`` uint8 ``[P, T + 1]`` when scoring (inputs ``[:, :T]``, targets ``[:, 1:]``), else
    ``[P, T]``; ``states`` int8 ``[L, P, d]``, updated in place; ``keys`` the per-parameter
    noise keys of this step (``None``: no noise); member ``p`` uses pair
    ``pair_offset + p // 2``; ``logits`` int8 ``[T, P, 256]`` to receive the logits;
    ``prof`` int64 ``[threads, len(PHASES)]`` accumulates rdtsc cycles per phase.
    """
    p_ = seq.shape[0]
    tlen = seq.shape[1] - (1 if scoring else 0)
    pert = keys is not None
    cfg = np.array([plan.d, plan.layers, p_, bound, noise_shift, vec_noise_shift, int(pert),
                    int(prof is not None), plan.d * plan.mlp_mult, plan.chunk, plan.scratch],
                   dtype=np.int64)
    scores = np.zeros(p_, dtype=np.int64)
    want = logits is not None
    _forward(np.ascontiguousarray(seq, np.uint8), tlen, scoring, states, flat, rs, plan.ptab,
             shifts, keys if pert else np.zeros(len(plan.names), np.uint64), pair_offset, cfg,
             plan.ws8, plan.ws16, plan.lay, scores,
             logits if want else np.zeros((1, 1, 1), np.int8), want,
             prof if prof is not None else np.zeros((1, 1), np.int64),
             R.EXP2.astype(np.int32), R.LOG2_FRAC.astype(np.int64))
    return scores
