"""EGGROLL: int8 evolution-strategies training of the EGG byte model (the algorithm spec is in ``docs/``).

Modules: ``config`` (dataclass config + presets), ``model`` (int8 forward for P members),
``train`` (the loop), ``data`` (byte streams), ``checkpoint`` (versioned atomic files),
``candidate`` (checkpoints as candidates), ``distributed`` (fitness-only all-gather;
multi-node launch notes), ``cli`` (and its train-time evaluation hook, through
:mod:`specboard.trainers.eval_hook`) and ``bench``.
"""
