"""What the torch trainers (distillation, LoRA SFT) share, around ``transformers.Trainer``.

- :mod:`.config`: :class:`~.config.TrainCommon`, the settings both trainers have;
- :mod:`.run`: run directory, the training loop's tail (checkpoints, SIGINT, loss history,
  evaluation hook, speed, final export) written once;
- :mod:`.hf_checkpoint`: checkpoint checksums, resume, SIGINT, atomic ``hf:`` exports;
- :mod:`.eval_callback`: the train-time evaluation hook as a ``transformers`` callback;
- :mod:`.chunks`: the Three.js train split as fixed-length token chunks;
- :mod:`.models`: ``baseline:``/``hf:`` specs → model directories, tokenizer identity;
- :mod:`.memory`: peak-memory estimate and refusal;
- :mod:`.cli`: the flags and config → train → report plumbing of both command lines.
"""
