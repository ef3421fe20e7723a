"""Adding a paper touches its model file (builder + spec) and its script only (issue 18).

A toy paper's whole model file, the one docs/architecture.md shows ("Adding a paper"), written to a
temporary package: its builder, its own loss and its `SPECS`, importing nothing of the suite but
`colorization_tf.models.spec`. The registry finds it as it finds the suite's families
(`registry.family_modules`: the files that assign ``SPECS``) and registers it; the model then goes
through what an experiment script does with it, each step reading the spec alone: build by name,
compile with the spec's losses, one training step on targets its `Preprocessor` encodes,
evaluation and a SavedModel export decoded by that same preprocessor.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import colorization_tf
from colorization_tf import color, evaluation, export, models
from colorization_tf.models import heads, registry
from tests._tiny_models import tiny_rgb

DOCS = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _docs_block(marker: str) -> str:
    """The one Python block of docs/architecture.md's "Adding a paper" that contains `marker`, dedented."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Adding a paper"):]
    section = section[:section.index("\n## ", 1)]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, flags=re.S) if marker in b]
    assert len(blocks) == 1, f"{DOCS}: 'Adding a paper' should show one Python block with {marker!r}, found {len(blocks)}"
    return textwrap.dedent(blocks[0])


def toy_model_file() -> str:
    """The toy paper's model file: builder, losses and `SPECS`."""
    return _docs_block("SPECS = ")


def toy_script() -> str:
    """The toy paper's experiment script: its `make_config`."""
    return _docs_block("def make_config")


SIZE = 16


@pytest.fixture
def toy_registered(tmp_path, monkeypatch):
    """The toy paper's package on the path, its family registered; unregistered afterwards."""
    package = tmp_path / "toy_papers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(toy_model_file())
    (package / "helpers.py").write_text("X = 1\n")  # a module without specs is no family
    monkeypatch.syspath_prepend(str(tmp_path))
    families = registry.family_modules(package, "toy_papers")
    assert families == ["toy_papers.toy"]
    try:
        yield [spec for family in families for spec in registry.register_family(family)]
    finally:
        models.MODELS.pop("toy_paper", None)


def test_a_toy_paper_registers_trains_evaluates_and_exports_from_its_own_file(toy_registered, tmp_path):
    (spec,) = toy_registered
    assert "toy_paper" in colorization_tf.list_models() and models.get_spec("toy_paper") is spec
    assert spec.module == "toy_papers.toy" and spec.preprocessor.normalization.name == "polychromify"

    keras.utils.set_random_seed(0)
    model = colorization_tf.build_model("toy_paper")
    loss, loss_weights = spec.default_losses()
    assert isinstance(loss, keras.losses.MeanAbsoluteError)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, loss_weights=loss_weights)
    pre = spec.preprocessor
    l_enc, ab_enc = pre.encode_lab(color.rgb_to_lab(tiny_rgb(n=4, size=SIZE)))
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.fit(l_enc, ab_enc, batch_size=4, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0])
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.trainable_weights))

    result = evaluation.evaluate_model(model, [(l_enc, ab_enc)], pre)
    ab_pred, _ = evaluation.predict_lab(model, l_enc, pre)
    expected = np.abs(np.asarray(ab_pred) - np.asarray(pre.decode_ab(ab_enc))).mean()
    assert result.mean["ab_l1"] == pytest.approx(expected, rel=1e-4)

    path = export.export_saved_model(model, tmp_path / "toy_export", "toy_paper", save_keras=False, compile_pixels=False)
    info = json.loads((tmp_path / "toy_export" / export.INFO_FILE).read_text())
    assert (info["normalization"], info["image_size"], info["head"]) == ("polychromify", SIZE, "regression")
    served = tf.saved_model.load(str(path)).signatures[export.SERVING_ENDPOINT]
    rgb = tiny_rgb(n=1, size=SIZE, seed=5)
    out = served(images=tf.constant(rgb))[export.OUTPUT_KEY].numpy()
    l_full = color.lightness(rgb)  # at the spec's size, what the export computes is the model's ab on this L
    ab_full = heads.predict_ab(model, pre.encode_l(l_full), pre)
    np.testing.assert_allclose(out.astype(np.int16), export.lab_to_uint8(l_full, ab_full).numpy().astype(np.int16), atol=2)


def test_the_toy_papers_script_runs_quick_on_the_shared_runner(toy_registered, tmp_path):
    """The script block of the docs, as a script, `--quick` on the embedded scenes: nothing else written."""
    namespace: dict = {}
    exec(compile(toy_script(), "toy2025.py", "exec"), namespace)  # noqa: S102 -- the docs' own example
    from colorization_tf import experiment as ex

    out = tmp_path / "results"
    result = ex.main(namespace["make_config"], ["--quick", "--no-export", "--max-images", "24", "--out", str(out)])
    report = json.loads((out / "results.json").read_text())
    assert result is not None and report["paper"] == "toy2025" and list(report["runs"]) == ["l1"]
    metrics = report["runs"]["l1"]["metrics"]
    assert np.isfinite(metrics["psnr"]) and np.isfinite(metrics["ab_l1"])
    protocol = (out / "results.md").read_text()
    assert "Section 4" in protocol  # the paper value's source, in the Protocol table
