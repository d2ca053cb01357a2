"""A tool-calling specialist's data: BFCL-format function-calling examples built offline.

Material: function signatures and docstrings of installed Python packages
(:mod:`.pysources`: ``inspect`` + ``docstring_parser``, nothing is called) and the class
methods of the Three.js train split (:mod:`.jssources`). None of it is BFCL, and
:mod:`.overlap` checks that no BFCL function (name, description) pair is used.

Pipeline: :mod:`.schema` (BFCL-shaped docs, type inference) → :mod:`.values` (argument
values) → :mod:`.templates` (requests and answers) → :mod:`.build` (example kinds, dedup,
overlap check, JSONL; ``python -m specboard.trainers.toolcall.build``) → :mod:`.sft_data`
(BFCL's exact chat through the model's chat template, prompt-masked labels, packing).
The recipe and its measured size are in ``trainers/toolcall/README.md``.

Not handled: teacher-generated requests, multi-turn, Java/JavaScript call syntax.
"""
