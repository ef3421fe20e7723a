"""Generic `--set KEY=VALUE` overrides of an experiment's configuration, typed by the dataclass fields.

Keys name a field by its path in the tree (`config`):

    FIELD=VALUE                  an `ExperimentConfig` field, or one of its groups': `data.protocol=ziegler`,
                                 `train.sample_every=2`, `report.metric_columns=psnr,ssim`, `run_overrides.epochs=5`
    runs.NAME.FIELD=VALUE        a `RunConfig` field of run NAME: `runs.iizuka.train.learning_rate=3e-4`
    runs.*.FIELD=VALUE           that field of every run
    ....GROUP.FIELD=VALUE        a field of a group: `runs.gan.gan.l1_weight=50`,
                                 `runs.NAME.train.optimizer_kwargs.weight_decay=0`, `runs.NAME.quick_overrides.epochs=2`

The keys of the flat configuration keep working, each standing for its path (`ExperimentConfig.ALIASES`,
`RunConfig.ALIASES`): `epochs=5` (`run_overrides.epochs`), `seed=3` (`train.seed`), `protocol=...`,
`xla=on`, `runs.NAME.learning_rate=3e-4`, `runs.NAME.optimizer_kwargs.weight_decay=0`,
`runs.NAME.quick.epochs=2`, ...

A value is parsed by the field's type: an int, a float, a boolean (true/false, yes/no, on/off,
1/0), a string, `none` for an optional field, comma-separated items for a tuple or list
(`runs.NAME.optimizer_kwargs.betas=0.9,0.99`, `metric_columns=psnr,ssim`), JSON for a dict (and
for a whole typed group); a free-typed field (`loss`, `metrics`) takes JSON, else the string.
A run's field is the run's own setting: `--quick` and the experiment's `run_overrides` still take
precedence over it (`resolve.resolve_run`); set `runs.NAME.quick.epochs` for quick mode.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import types
import typing
from typing import Any, Sequence

from colorization_tf.experiment.config import ExperimentConfig, RunConfig, Settings

COMMAND_LINE_ONLY = {"quick": "--quick", "runs": "--runs (or runs.NAME.FIELD=VALUE to change a run)"}
"""Experiment fields `--set` refuses, with the option that sets them (the script reads them first)."""

FLAGGED_FIELDS = ("epochs", "batch_size", "image_size", "augment", "protocol", "max_images", "precision", "xla",
                  "resize_method", "hold_out_val")
"""Settings the "Protocol" table names as changed on the command line (`ExperimentConfig.overridden`),
by their flat names; `--set` flags them under either spelling (`ExperimentConfig.ALIASES`)."""

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
NONE_WORDS = ("none", "null")


class OverrideError(ValueError):
    """A `--set` assignment names no field, or its value does not fit the field's type."""


def apply_overrides(cfg: ExperimentConfig, assignments: Sequence[str]) -> ExperimentConfig:
    """The configuration with each `KEY=VALUE` assignment applied, in order (see the module docstring).

    Args:
        cfg: the experiment (all its runs, before `--runs` picks some).
        assignments: the `--set` values.

    Returns:
        A new `ExperimentConfig`; the experiment fields that the "Protocol" table knows as command-line
        changes (`FLAGGED_FIELDS`) are added to `overridden`.

    Raises:
        OverrideError: a malformed assignment, an unknown run or field, or a value of the wrong type;
            the message names the key and the value.
    """
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise OverrideError(f"--set {assignment!r}: expected KEY=VALUE, e.g. epochs=5 or runs.NAME.learning_rate=3e-4")
        path = key.split(".")
        if path[0] == "runs" and len(path) >= 3:
            cfg = dataclasses.replace(cfg, runs=_set_runs(cfg.runs, path[1], path[2:], text, key))
            continue
        if path[0] in COMMAND_LINE_ONLY:
            raise OverrideError(f"--set {key}: use {COMMAND_LINE_ONLY[path[0]]}")
        flag = path[0] if path[0] in FLAGGED_FIELDS else FLAGGED_PATHS.get(".".join(path))
        cfg = _set(cfg, path, text, key)
        if flag and flag not in cfg.overridden:
            cfg = dataclasses.replace(cfg, overridden=(*cfg.overridden, flag))
    return cfg


FLAGGED_PATHS = {ExperimentConfig.ALIASES[name]: name for name in FLAGGED_FIELDS}
"""The tree's path of each of the `FLAGGED_FIELDS` -> its flat name."""


def _set_runs(runs: list[RunConfig], name: str, path: list[str], text: str, key: str) -> list[RunConfig]:
    """`runs` with `path` of run `name` (every run for "*") set to `text`."""
    known = [r.name for r in runs]
    if name != "*" and name not in known:
        raise OverrideError(f"--set {key}: no run {name!r}; runs: {', '.join(known)} (or * for all)")
    return [_set(r, path, text, key) if name in ("*", r.name) else r for r in runs]


def _set(obj, path: list[str], text: str, key: str):
    """A copy of the dataclass `obj` with the field at `path` (nested through groups) parsed from `text`;
    a key of the flat configuration (`obj.ALIASES`) stands for its path in the tree."""
    aliases = getattr(type(obj), "ALIASES", {})
    if path[0] in aliases and not (len(path) > 1 and path[0] in getattr(type(obj), "GROUPS", {})):  # `data.protocol`: the group
        convert = getattr(type(obj), "ALIAS_VALUES", {}).get(path[0])
        path = [*aliases[path[0]].split("."), *path[1:]]
        if convert is not None:  # a value spelt differently in the tree (`xla=on`: `train.jit_compile`)
            try:
                value = convert(text.strip())
            except ValueError as err:
                raise OverrideError(f"--set {key}={text.strip()}: {err}") from None
            return _set_value(obj, path, value, key)
    hints = _field_types(type(obj))
    name = path[0]
    if name not in hints:
        raise OverrideError(f"--set {key}: {type(obj).__name__} has no field {name!r}; fields: {', '.join(hints)}")
    if len(path) == 1:
        return _replace(obj, name, parse_value(text, hints[name], key), key, text)
    current = getattr(obj, name)
    group = type(current) if dataclasses.is_dataclass(current) else _dataclass_in(hints[name])  # a typed group in a dict field
    if group is None:
        raise OverrideError(f"--set {key}: {type(obj).__name__}.{name} has no fields to set; set it whole: {'.'.join(path[:-1])}=VALUE")
    return _replace(obj, name, _set(current if current is not None else group(), path[1:], text, key), key, text)


def _set_value(obj, path: list[str], value, key: str):
    """A copy of `obj` with the field at `path` set to the already parsed `value`."""
    if len(path) == 1:
        return _replace(obj, path[0], value, key, value)
    return _replace(obj, path[0], _set_value(getattr(obj, path[0]), path[1:], value, key), key, value)


def _replace(obj, name: str, value, key: str, text):
    """`dataclasses.replace(obj, name=value)`; a value the dataclass refuses is an `OverrideError`."""
    try:
        return dataclasses.replace(obj, **{name: value})
    except ValueError as err:  # `ExperimentConfig`'s precision/xla choices, a run's typed groups
        raise OverrideError(f"--set {key}={str(text).strip()}: {err}") from None


@functools.cache
def _field_types(cls) -> dict[str, Any]:
    """Field name -> its resolved type annotation, in field order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _dataclass_in(annotation) -> type | None:
    """The dataclass an annotation names (also inside `X | None`), else None."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def parse_value(text: str, annotation, key: str = "value"):
    """`text` as a value of the type `annotation` (see the module docstring for the forms).

    Args:
        text: the value as typed on the command line.
        annotation: the field's resolved type.
        key: the key, for the error message.

    Raises:
        OverrideError: `text` does not fit the type, or the type cannot come from the command line.
    """
    text = text.strip()
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in NONE_WORDS:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return parse_value(text, option, key)
            except OverrideError as err:
                errors.append(str(err))
        raise OverrideError(errors[0] if len(errors) == 1 else f"--set {key}={text}: expected one of {options}")
    if annotation is Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if annotation is bool:
        if text.lower() in TRUE_WORDS + FALSE_WORDS:
            return text.lower() in TRUE_WORDS
        raise OverrideError(f"--set {key}={text}: expected a boolean (true/false)")
    if annotation in (int, float):
        try:
            return annotation(text)
        except ValueError:
            raise OverrideError(f"--set {key}={text}: expected {'an integer' if annotation is int else 'a number'}") from None
    if annotation is str:
        return text
    if origin in (tuple, list, collections.abc.Sequence):
        return _parse_items(text, origin, args, key)
    if annotation is dict or origin is dict:
        value = _json(text, key)
        if not isinstance(value, dict):
            raise OverrideError(f"--set {key}={text}: expected a JSON object, e.g. '{{\"name\": 1}}'")
        return value
    if isinstance(annotation, type) and issubclass(annotation, Settings):
        try:
            return annotation.coerce(_json(text, key), f"--set {key}")
        except (TypeError, ValueError) as err:
            raise OverrideError(str(err)) from None
    raise OverrideError(f"--set {key}: this field cannot be set on the command line")


def _parse_items(text: str, origin, args, key: str):
    """Comma-separated items, each parsed by the element type (a fixed-length tuple: by position)."""
    items = [t for t in (part.strip() for part in text.split(",")) if t]
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(items) != len(args):
            raise OverrideError(f"--set {key}={text}: expected {len(args)} comma-separated values")
        return tuple(parse_value(t, a, key) for t, a in zip(items, args))
    element = args[0] if args else str
    values = [parse_value(t, element, key) for t in items]
    return values if origin is list else tuple(values)


def _json(text: str, key: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise OverrideError(f"--set {key}={text}: not valid JSON ({err.msg})") from None


__all__ = ["OverrideError", "apply_overrides", "parse_value"]
