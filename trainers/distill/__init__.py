"""Knowledge distillation into a small student (``specboard train distill``).

Modules: ``config`` (dataclass + presets), ``trainer`` (the run), ``loss`` and
``fused_loss`` (KD + CE), ``topk_cache`` (the teacher's top-k logits on disk),
``student`` (a fresh student), ``subclone`` (a student cut from the teacher), ``cli``.
What it shares with :mod:`specboard.trainers.sft` is in :mod:`specboard.trainers.torch_common`.
"""
