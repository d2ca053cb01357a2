"""Knowledge distillation into a small student (``specboard train distill``).

Also home of what the torch trainers share (config, data chunks, checkpoints, eval hook),
which :mod:`specboard.trainers.sft` imports.
"""
