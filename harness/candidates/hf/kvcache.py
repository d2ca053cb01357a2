"""The KV cache and attention of :mod:`.decoding`: a preallocated per-layer buffer, and
single-query attention on the key/value heads.

Why by hand: transformers' ``DynamicCache`` concatenates the whole cache at every step (a
copy of every layer's keys and values per token) and has no way to drop rows or columns;
its SDPA path runs one-token steps of grouped-query models through the ``enable_gqa``
kernel when no attention mask is given, which measured 10-15× slower on CPU than packing the
query heads onto the key/value heads (which transformers itself does when a mask is given).

Not handled: sliding-window layers (their models use the landed path), offloading.
"""

from __future__ import annotations

from typing import Any

ATTENTION = "specboard_sdpa"
GROW = 256  # columns added when a buffer is full


def growing_layer_class() -> type:
    """The cache layer class (built lazily: transformers is imported only when needed)."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """Keys/values in a preallocated ``[B, H, capacity, D]`` buffer, valid in ``[0, end)``.

        ``update`` writes the new columns in place and returns views (no per-step copy;
        the buffer grows by ``GROW`` columns when full); ``select`` keeps some rows and drops
        leading columns no kept row attends to.
        """

        def __init__(self, keys: Any, values: Any, end: int):
            super().__init__()
            self.buf_k, self.buf_v, self.end = keys, values, end
            self.is_initialized = True
            self._views()

        def _views(self) -> None:
            self.keys = self.buf_k[:, :, :self.end]
            self.values = self.buf_v[:, :, :self.end]

        def _grow(self, need: int) -> None:
            import torch

            extra = max(GROW, need - self.buf_k.shape[2])
            pad = list(self.buf_k.shape)
            pad[2] = extra
            self.buf_k = torch.cat([self.buf_k, self.buf_k.new_zeros(pad)], dim=2)
            self.buf_v = torch.cat([self.buf_v, self.buf_v.new_zeros(pad)], dim=2)

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            q = key_states.shape[-2]
            if self.end + q > self.buf_k.shape[2]:
                self._grow(self.end + q)
            self.buf_k[:, :, self.end:self.end + q] = key_states
            self.buf_v[:, :, self.end:self.end + q] = value_states
            self.end += q
            self._views()
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.end

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.end + query_length, 0

        def select(self, rows: Any, drop: int) -> None:
            """Keep batch ``rows`` and drop the first ``drop`` columns."""
            self.buf_k = self.buf_k[rows, :, drop:].contiguous()
            self.buf_v = self.buf_v[rows, :, drop:].contiguous()
            self.end -= drop
            self._views()

    return GrowingLayer


def batched_cache(layers: list[tuple[Any, Any]], end: int) -> Any:
    """A transformers cache over per-layer ``(keys, values)`` buffers valid up to ``end``."""
    from transformers import DynamicCache

    cls = growing_layer_class()
    cache = DynamicCache()
    cache.layers = [cls(k, v, end) for k, v in layers]
    return cache


def use_packed_decode_attention(model: Any) -> None:
    """Make one-query attention steps run on the key/value heads (grouped-query models);
    everything else (prefill, multi-token steps, scoring) goes to transformers' own SDPA
    function unchanged."""
    import torch
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    def attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                  scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:
        groups = int(getattr(module, "num_key_value_groups", 1) or 1)
        B, H, q_len, D = query.shape
        plain = q_len != 1 or groups == 1 or kwargs.get("position_bias") is not None or kwargs.get("softcap")
        if plain or (attention_mask is not None and attention_mask.shape[1] != 1):
            return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                          scaling=scaling, is_causal=is_causal, **kwargs)
        packed = query.reshape(B, H // groups, groups, D)
        out = torch.nn.functional.scaled_dot_product_attention(packed, key, value, attn_mask=attention_mask,
                                                               scale=scaling)
        return out.reshape(B, H, 1, D).transpose(1, 2).contiguous(), None

    AttentionInterface.register(ATTENTION, attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    if getattr(model.config, "_attn_implementation", None) == "sdpa":
        model.set_attn_implementation(ATTENTION)
