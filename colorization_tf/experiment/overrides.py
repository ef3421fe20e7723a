"""Generic `--set KEY=VALUE` overrides of an experiment's configuration, typed by the dataclass fields.

Keys name a field by its path:

    FIELD=VALUE                  an `ExperimentConfig` field: `epochs=5`, `seed=3`, `sample_every=2`
    runs.NAME.FIELD=VALUE        a `RunConfig` field of run NAME: `runs.iizuka.learning_rate=3e-4`
    runs.*.FIELD=VALUE           that field of every run
    ....GROUP.FIELD=VALUE        a field of a typed group: `runs.gan.gan.l1_weight=50`,
                                 `runs.NAME.optimizer_kwargs.weight_decay=0`, `runs.NAME.quick.epochs=2`

A value is parsed by the field's type: an int, a float, a boolean (true/false, yes/no, on/off,
1/0), a string, `none` for an optional field, comma-separated items for a tuple or list
(`runs.NAME.optimizer_kwargs.betas=0.9,0.99`, `metric_columns=psnr,ssim`), JSON for a dict (and
for a whole typed group); a free-typed field (`loss`, `metrics`) takes JSON, else the string.
A run field is the run's own setting: `--quick` and the experiment-wide `epochs`, `batch_size`,
`image_size` still take precedence over it (`config._resolve`); set `runs.NAME.quick.epochs` for
quick mode.
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
"""Experiment fields the "Protocol" table names as changed on the command line (`overridden`)."""

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
        cfg = _set(cfg, path, text, key)
        if path[0] in FLAGGED_FIELDS and path[0] not in cfg.overridden:
            cfg = dataclasses.replace(cfg, overridden=(*cfg.overridden, path[0]))
    return cfg


def _set_runs(runs: list[RunConfig], name: str, path: list[str], text: str, key: str) -> list[RunConfig]:
    """`runs` with `path` of run `name` (every run for "*") set to `text`."""
    known = [r.name for r in runs]
    if name != "*" and name not in known:
        raise OverrideError(f"--set {key}: no run {name!r}; runs: {', '.join(known)} (or * for all)")
    return [_set(r, path, text, key) if name in ("*", r.name) else r for r in runs]


def _set(obj, path: list[str], text: str, key: str):
    """A copy of the dataclass `obj` with the field at `path` (nested through typed groups) parsed from `text`."""
    hints = _field_types(type(obj))
    name = path[0]
    if name not in hints:
        raise OverrideError(f"--set {key}: {type(obj).__name__} has no field {name!r}; fields: {', '.join(hints)}")
    if len(path) == 1:
        try:
            return dataclasses.replace(obj, **{name: parse_value(text, hints[name], key)})
        except ValueError as err:  # a value the dataclass refuses (`ExperimentConfig`'s precision/xla choices)
            raise OverrideError(f"--set {key}={text.strip()}: {err}") from None
    group = _dataclass_in(hints[name])
    if group is None:
        raise OverrideError(f"--set {key}: {type(obj).__name__}.{name} has no fields to set; set it whole: {'.'.join(path[:-1])}=VALUE")
    current = getattr(obj, name)
    return dataclasses.replace(obj, **{name: _set(current if current is not None else group(), path[1:], text, key)})


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
