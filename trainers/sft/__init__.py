"""LoRA supervised fine-tuning of a baseline (``specboard train sft``).

Modules: ``config`` (dataclass + presets), ``trainer`` (the run), ``cli``. What it shares
with :mod:`specboard.trainers.distill` is in :mod:`specboard.trainers.torch_common`.
"""
