"""The model registry: every `ModelSpec` the model files declare, by name.

A model family's file states its specs beside its builder as a module-level ``SPECS`` (a tuple of
`ModelSpec`, pointing at its functions); nothing else names them. `MODELS` is collected when this
module is imported: every module of `colorization_tf.models` that assigns ``SPECS`` at top level
(found by reading the files, so that modules without specs, such as the TensorFlow-only `gan`,
are not imported) is imported and its specs registered. A model defined outside the package
registers with `register` (or `register_family` for its module). Families import only
`colorization_tf.models.spec` (and each other), never this module: no import circle.

Reference:
    timm's model registry (`timm.models._registry`: `register_model`, `list_models`,
    `create_model`), https://huggingface.co/docs/timm/reference/models
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from colorization_tf.models.spec import ModelSpec

SPECS_ATTRIBUTE = "SPECS"
"""The module-level name under which a model file declares its specs."""
PACKAGE = __name__.rpartition(".")[0]

MODELS: dict[str, ModelSpec] = {}
"""Registry name -> `ModelSpec`, of every family of `colorization_tf.models` and whatever `register` added."""


def register(*specs: ModelSpec, replace: bool = False) -> tuple[ModelSpec, ...]:
    """Adds `specs` to `MODELS`.

    Args:
        *specs: the specs to register.
        replace: allow a name already registered to be replaced (else ValueError naming both builders).

    Returns:
        The specs, as given.
    """
    for spec in specs:
        if not isinstance(spec, ModelSpec):
            raise TypeError(f"colorization_tf/models/registry.py: register takes `ModelSpec`s, got {spec!r}")
        known = MODELS.get(spec.name)
        if known is not None and known is not spec and not replace:
            raise ValueError(f"colorization_tf/models/registry.py: model {spec.name!r} is declared twice "
                             f"(by {known.module}.{known.builder.__name__} and {spec.module}.{spec.builder.__name__})")
    for spec in specs:
        MODELS[spec.name] = spec
    return specs


def register_family(module, replace: bool = False) -> tuple[ModelSpec, ...]:
    """Registers the specs a model file declares (its `SPECS_ATTRIBUTE`); returns them.

    Args:
        module: the module (or its dotted name).
        replace: see `register`.
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    specs = getattr(module, SPECS_ATTRIBUTE, None)
    if specs is None:
        raise ValueError(f"colorization_tf/models/registry.py: {module.__name__} declares no {SPECS_ATTRIBUTE}")
    return register(*specs, replace=replace)


def declares_specs(path: Path) -> bool:
    """Whether the Python file at `path` assigns `SPECS_ATTRIBUTE` at module level."""
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == SPECS_ATTRIBUTE for t in targets):
            return True
    return False


def family_modules(folder: Path = Path(__file__).parent, package: str = PACKAGE) -> list[str]:
    """Dotted names of the modules of `package` (its files in `folder`; default `colorization_tf.models`)
    that declare specs, sorted."""
    return [f"{package}.{path.stem}" for path in sorted(Path(folder).glob("*.py")) if declares_specs(path)]


def get_spec(name) -> ModelSpec:
    """Returns the `ModelSpec` registered under `name` (a `ModelSpec` is returned as it is;
    ValueError names the choices)."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose from {sorted(MODELS)}") from None


def build_model(name, **overrides):
    """Builds the registered model `name`; see `ModelSpec.build`."""
    return get_spec(name).build(**overrides)


def list_models() -> list[str]:
    """The registered names, sorted."""
    return sorted(MODELS)


for _family in family_modules():
    register_family(_family)
