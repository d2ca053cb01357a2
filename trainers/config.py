"""The one configuration system of the trainers (EGGROLL, distillation, LoRA SFT).

A trainer's config is a dataclass that mixes in :class:`TrainerConfig`. It is built in
layers, later ones winning (:func:`build_config`): the dataclass defaults, a named preset
(an instance of the class), a config file, then command-line overrides (``None`` = not
given). Every layer is merged into one mapping first and the dataclass is constructed and
validated once, so an intermediate combination never has to be valid on its own.

- **Files** (:func:`read_config_file`): a flat table of field names in ``.toml``,
  ``.json``, ``.yaml`` or ``.yml``; any other ending is refused.
- **Unknown keys** (in a file, a preset or an override) are refused with the list of
  known ones, so a typo never silently falls back to a default.
- **Validation**: each class lists its problems in :meth:`TrainerConfig.problems`; all of
  them are reported together as one :class:`ConfigError`.
- **Recorded config** (:func:`record_config`): the resolved config is written as JSON into
  the run directory; a resumed run must match it except for the fields the class declares
  in ``RUNTIME_FIELDS`` (settings that do not change the trained weights).

Not handled: nested tables (every setting is a top-level key), type coercion beyond
list → tuple for tuple-typed fields (a wrong type fails in :meth:`TrainerConfig.problems`
or at first use).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from specboard.harness.errors import UsageError
from specboard.harness.results.store import atomic_write_text

FILE_FORMATS = (".toml", ".json", ".yaml", ".yml")


class ConfigError(UsageError, ValueError):
    """A config (file, preset, override or combination) that cannot be trained; the
    message says which setting and why."""


C = TypeVar("C", bound="TrainerConfig")


class TrainerConfig:
    """Mixin for a trainer's config dataclass: validation, dict round trip, identity."""

    label: ClassVar[str] = "trainer"
    """Name used in messages (``invalid EGGROLL config: ...``)."""
    RUNTIME_FIELDS: ClassVar[frozenset[str]] = frozenset()
    """Fields a resumed run may change: they do not change the trained weights."""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(f"invalid {self.label} config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this config cannot train (empty: valid)."""
        return []

    def to_dict(self) -> dict[str, Any]:
        """JSON-able field values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}  # type: ignore[call-overload]

    @classmethod
    def check_keys(cls, values: Mapping[str, Any], source: str) -> None:
        """Refuse keys that are not fields of ``cls``, naming the source and the known keys."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown {cls.label} config keys: {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any], source: str = "config") -> C:
        """Construct and validate from a mapping of field values (unknown keys refused)."""
        cls.check_keys(data, source)
        values = dict(data)
        for f in fields(cls):  # type: ignore[arg-type]
            if isinstance(values.get(f.name), list) and str(f.type).startswith("tuple"):
                values[f.name] = tuple(values[f.name])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid {cls.label} config ({source}): {exc}") from exc

    def override(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (``None`` values are ignored), validated."""
        return type(self).from_dict({**self.to_dict(), **_given(changes)}, "override")

    def identity(self) -> dict[str, Any]:
        """The fields that determine the trained weights (all but ``RUNTIME_FIELDS``)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.RUNTIME_FIELDS}

    def changed_since(self, recorded: Mapping[str, Any], header: Mapping[str, Any] | None = None) -> list[str]:
        """Keys of ``recorded`` (a written record) that differ from this config, runtime
        fields excepted."""
        now = {**(header or {}), **self.to_dict()}
        return sorted(k for k in set(recorded) | set(now)
                      if recorded.get(k) != now.get(k) and k not in self.RUNTIME_FIELDS)


def _given(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The flat key → value table of a ``.toml``/``.json``/``.yaml``/``.yml`` file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in FILE_FORMATS:
        raise ConfigError(f"config file {p} must end in {', '.join(FILE_FORMATS)}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # each parser has its own error class; all mean "not parseable"
        raise ConfigError(f"cannot parse config file {p} as {suffix[1:]}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold a table of settings, not {type(data).__name__}")
    return data


def build_config(
    cls: type[C],
    presets: Mapping[str, C],
    *,
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Defaults ← ``presets[preset]`` ← ``file`` ← ``overrides`` (``None`` values ignored)."""
    values: dict[str, Any] = {}
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown {cls.label} preset {preset!r}; known: {', '.join(presets)}")
        values = presets[preset].to_dict()
    if file is not None:
        from_file = read_config_file(file)
        cls.check_keys(from_file, str(file))
        values.update(from_file)
    given = _given(overrides or {})
    cls.check_keys(given, "override")
    values.update(given)
    return cls.from_dict(values)


def record_config(path: str | Path, cfg: TrainerConfig, *, resuming: bool = False,
                  header: Mapping[str, Any] | None = None) -> None:
    """Write ``header`` + the config as JSON to ``path``; when ``resuming`` and a record
    exists, first refuse a config whose identity differs from it (naming the fields)."""
    p = Path(path)
    if resuming and p.is_file():
        changed = cfg.changed_since(json.loads(p.read_text(encoding="utf-8")), header)
        if changed:
            raise ConfigError(
                f"cannot resume {p.parent}: settings changed since the checkpoint ({', '.join(changed)}); "
                "resume with the original config or start a new --out"
            )
    atomic_write_text(p, json.dumps({**(header or {}), **cfg.to_dict()}, indent=1, sort_keys=True))


def overrides_from_args(args: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """``{name: args.name}`` for the CLI flags that override config fields (unset: ``None``)."""
    return {n: getattr(args, n, None) for n in names}


__all__ = ["ConfigError", "TrainerConfig", "build_config", "overrides_from_args", "read_config_file",
           "record_config"]
