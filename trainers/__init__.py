"""Trainers whose checkpoints are candidates (``specboard train TRAINER``).

- :mod:`.eggroll`: int8 evolution strategies on the Three.js bytes (Numba kernels);
- :mod:`.distill`: logit distillation from a teacher into a small student;
- :mod:`.sft`: LoRA supervised fine-tuning of a baseline;
- :mod:`.torch_common`: what the two torch trainers share (run loop around
  ``transformers.Trainer``, checkpoints, data chunks, model directories, memory check, CLI);
- :mod:`.config`: the one config system (presets, files, overrides, recorded config);
- :mod:`.eval_hook`: the one train-time evaluation (checkpoints through the runner).
"""
