"""A transformers candidate (``hf:DIR?dtype=bf16&threads=1&family=specialist&constrained=1``).

Modules, by job:

- :mod:`.convert`: GGUF artifacts → HF directories once, after checking sha256 and header;
- :mod:`.resources`: refusing thread/memory settings the machine cannot take;
- :mod:`.scoring`: shared-context log-likelihoods with only the needed log-probs gathered;
- :mod:`.decoding`: generation (each prompt prefilled alone, rows decoded together with
  prompt-lookup drafts, finished rows leave the batch at once), on :mod:`.kvcache`;
- :mod:`.landed`: the landed ``model.generate`` path it replaced (the benchmark reference);
- :mod:`.constrained`: grammar-constrained token choice (llguidance);
- :mod:`.candidate`: :class:`HFCandidate`, the spec options and :func:`from_spec`.
"""

from specboard.harness.candidates.hf.candidate import (
    DTYPES,
    DTYPES_SHORT,
    PROVENANCE_FILE,
    HFCandidate,
    candidate_kwargs,
    from_spec,
)
from specboard.harness.candidates.hf.convert import (
    CONVERSION_FILE,
    GGUFMetadataError,
    GGUFMismatchError,
    check_gguf_metadata,
    convert_gguf,
    gguf_metadata,
    verified_gguf,
)
from specboard.harness.candidates.hf.resources import (
    LOGIT_CHUNK_ELEMENTS,
    ResourceLimitError,
    check_resources,
)
from specboard.harness.candidates.hf.scoring import SHARED_ROWS

__all__ = [
    "CONVERSION_FILE", "DTYPES", "DTYPES_SHORT", "LOGIT_CHUNK_ELEMENTS", "PROVENANCE_FILE", "SHARED_ROWS",
    "GGUFMetadataError", "GGUFMismatchError", "HFCandidate", "ResourceLimitError", "candidate_kwargs",
    "check_gguf_metadata", "check_resources", "convert_gguf", "from_spec", "gguf_metadata", "verified_gguf",
]
