"""`colorization_tf.models.spec`: the model contract stands alone, and the registry re-exports it (issue 18)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from colorization_tf import models
from colorization_tf.models import heads, spec


def test_spec_imports_nothing_from_models():
    tree = ast.parse(Path(spec.__file__).read_text(encoding="utf-8"))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert imported and not [name for name in imported if name and name.startswith("colorization_tf.models")]


def test_models_re_exports_the_contract_it_registers():
    for name in ("Head", "ModelSpec", "REGRESSION", "CLASSIFICATION", "HEAD_KINDS", "REGRESSION_HEAD", "ZHANG_BINS_HEAD",
                 "colorizer_of"):
        assert getattr(models, name) is getattr(spec, name)
    assert all(isinstance(s, spec.ModelSpec) and isinstance(s.head, spec.Head) for s in models.MODELS.values())


@pytest.mark.parametrize("head", [spec.ZHANG_BINS_HEAD, spec.Head(spec.CLASSIFICATION, 20.0, "zhang"),
                                  spec.Head(spec.CLASSIFICATION, None, "zhang")])
def test_a_heads_decoder_is_the_one_heads_builds(head):
    expected = heads.default_decode(gamut=head.gamut, bin_width=head.bin_width if head.bin_width is not None else 10)
    assert head.decoder().get_config() | {"name": None} == expected.get_config() | {"name": None}
    assert spec.REGRESSION_HEAD.decoder() is None
