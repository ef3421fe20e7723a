"""The Colab notebooks: stored without outputs, with a badge and a `parameters` cell, the same as
their generator writes, and each one executes (nbclient) in a tiny configuration injected after
its parameters cell, so a broken notebook fails the build."""

import importlib.util
from pathlib import Path

import nbclient  # the test extra: a missing one fails here rather than skipping the notebooks
import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TIMEOUT_S = 300
"""Per cell (a busy 2-core machine; each notebook takes seconds when idle)."""

TINY_RUN = ["--quick", "--image-size", "32", "--max-images", "24", "--epochs", "1"]
TINY_SETTINGS = {"menon2021": ['runs.unet_l1_ssim.model_kwargs={"encoder_depth": 18}']}
"""`--set` of a notebook's tiny run (through its EXTRA_ARGS): Menon's U-Net with the ResNet-18 encoder, half the
layers to trace (the notebook's 54 s was nearly all the ResNet34)."""


def _generator():
    spec = importlib.util.spec_from_file_location("make_notebooks", NOTEBOOKS / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_parameters(name: str, out: Path) -> str:
    if name == "quickstart":
        return (f"IMAGE_SIZE = 32\nEPOCHS = 1\nMAX_IMAGES = 24\nMODEL = 'polychromify_v0'\nN_PHOTOS = 1\n"
                f"OUT = {str(out)!r}\n")
    run = _generator().PAPERS[name][1]
    extra = [arg for setting in TINY_SETTINGS.get(name, ()) for arg in ("--set", setting)]
    return (f"QUICK = True\nRUNS = {run!r}\nIMAGE_SIZE = 32\nMAX_IMAGES = 24\nEPOCHS = 1\nEXPORT = False\n"
            f"OUT = {str(out)!r}\nEXTRA_ARGS = {extra!r}\n")


NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def test_every_paper_has_a_notebook():
    assert set(NAMES) == {"quickstart", *_generator().PAPERS}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_clean_with_badge_and_parameters(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), f"{name}.ipynb is stored with outputs"
    assert "colab-badge.svg" in nb.cells[0].source and f"notebooks/{name}.ipynb" in nb.cells[0].source
    assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == [code[0]]
    assert nb == _generator().notebooks()[f"{name}.ipynb"], "run `python notebooks/make_notebooks.py`"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_tiny(name, tmp_path):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(_tiny_parameters(name, tmp_path / "out"))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, injected)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(REPO)}})
    client.execute()
    texts = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "GPUs:" in texts
    assert list((tmp_path / "out").rglob("results.md")), f"{name}: no report written"
    if name == "quickstart":
        assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
