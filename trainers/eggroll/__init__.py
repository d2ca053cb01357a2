"""EGGROLL: int8 evolution-strategies training of the EGG byte model (spec: shared/specs/eggroll.md).

Modules: ``config`` (dataclass config + presets), ``model`` (int8 forward for P members),
``train`` (the loop), ``checkpoint`` (versioned atomic files), ``candidate`` (checkpoints as
candidates), ``hook`` (evaluate checkpoints on suites), ``distributed`` (fitness-only
all-gather; multi-node launch notes), ``cli`` and ``bench``.
"""
