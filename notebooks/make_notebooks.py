"""Writes the Colab notebooks of `notebooks/` (run it after changing a notebook's cells here).

Every notebook has an "Open in Colab" badge, a parameters cell (tagged `parameters`, so papermill
or the test suite can inject values), a setup cell (on Colab: clone the repository and install it;
mounts Drive when `DRIVE_DATA` is set; elsewhere: runs from the checkout), a hardware cell (the
runner's `training.select_hardware`: a GPU with mixed precision when Colab gives one, else the
CPU), and stores no outputs. The paper notebooks run their `experiments/` script through the
shared runner and show its tables and figures inline; the quickstart walks through the library.

    python notebooks/make_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

REPO_SLUG = "colorization-tf/colorization-tf"
"""GitHub owner/name the badges and the Colab clone point to."""

REPO_URL = f"https://github.com/{REPO_SLUG}"
HERE = Path(__file__).resolve().parent

PAPERS = {
    "ziegler2022": ("Ziegler 2022: classification vs regression, class rebalancing", "alexnet_wce"),
    "lee2016_iizuka": ("Iizuka et al. 2016 / Lee et al. 2016: global and local features", "alpha_5"),
    "cs520": ("CS520 (Yang & Li): per-scene CNN and the numpy ANN", "cnn_beach"),
    "polychromify": ("PolyChromify (Ghiotto 2021): autoencoder selection and tuning", "select_v0"),
    "menon2021": ("Menon & Talukdar 2021: ResNet34 U-Net and its GAN variant", "unet_l1_ssim"),
}
"""Notebook name (= experiment script) -> (title, the run a quick look trains)."""


def badge(name: str) -> str:
    url = f"https://colab.research.google.com/github/{REPO_SLUG}/blob/main/notebooks/{name}.ipynb"
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


SETUP = '''import os, subprocess, sys
from pathlib import Path

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # clone and install the repository (once per Colab session)
    REPO = Path("/content/colorization-tf")
    if not REPO.exists():
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, str(REPO)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(REPO)], check=True)
    if DRIVE_DATA:  # your images on Google Drive, in the paper's folder layout
        from google.colab import drive
        drive.mount("/content/drive")
        DATA = f"/content/drive/MyDrive/{DRIVE_DATA}"
else:  # a local checkout: run from its root (Jupyter may start in notebooks/)
    REPO = Path.cwd() if (Path.cwd() / "experiments").is_dir() else Path.cwd().parent
os.chdir(REPO)
sys.path.insert(0, str(REPO))
print("repository:", REPO, "| data:", DATA or "the embedded synthetic scenes")'''

HARDWARE = '''import tensorflow as tf
from colorization_tf.training import select_hardware

# The runner picks the hardware itself ("auto"): a GPU (mixed precision + XLA) when Colab gives one
# (Runtime > Change runtime type > GPU), else the CPU in float32. The report's hardware line and
# Protocol table say what Keras then ran (PRECISION / XLA below change it).
print("GPUs:", tf.config.list_physical_devices("GPU") or "none")
print(select_hardware(set_policy=False).description)'''

SHOW = '''from IPython.display import Image, Markdown, display

report = result.markdown_path.read_text()
lines = [line for line in report.splitlines() if not line.startswith("![")]  # figures follow
display(Markdown("\\n".join(lines)))
for figure in sorted((result.results_dir / "figures").glob("*.png")):
    display(Markdown(f"**{figure.stem}**"), Image(filename=str(figure)))'''


def _code(source: str, tags=()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _md(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source)


def _notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["accelerator"] = "GPU"
    nb.metadata["colab"] = {"provenance": []}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"
    return nb


def paper_notebook(name: str, title: str, example_run: str) -> nbformat.NotebookNode:
    params = f'''# Parameters (a test injects a tiny configuration after this cell)
QUICK = True          # True: tiny images, few of them, one epoch (minutes on a CPU); False: the paper's settings
DATA = None           # an image folder in the paper's layout; None: the embedded synthetic scenes
DRIVE_DATA = ""       # on Colab: a folder under MyDrive (e.g. "datasets/landscapes"); mounts Drive
RUNS = None           # a comma-separated subset of the runs, e.g. "{example_run}"; None: all
EPOCHS = None         # None: the paper's (or QUICK's)
IMAGE_SIZE = None
MAX_IMAGES = None
BATCH_SIZE = None
PRECISION = None      # None: the device's (auto); or "float32", "mixed_float16", "mixed_bfloat16"
XLA = None            # None: the device's (auto: on a single GPU, off under --quick's determinism); or "on", "off"
EXPORT = True         # SavedModels to saved_models/{name}_<run>/
OUT = None            # results folder; None: results/{name}
EXTRA_ARGS = []       # any other option of experiments/{name}.py, e.g. ["--seed", "1"]
REPO_URL = "{REPO_URL}"'''
    run = f'''import importlib

script = importlib.import_module("experiments.{name}")
argv = ["--quick"] if QUICK else []
for flag, value in (("--data", DATA), ("--runs", RUNS), ("--epochs", EPOCHS), ("--image-size", IMAGE_SIZE),
                    ("--max-images", MAX_IMAGES), ("--batch-size", BATCH_SIZE), ("--out", OUT),
                    ("--precision", PRECISION), ("--xla", XLA)):
    if value is not None:
        argv += [flag, str(value)]
if not EXPORT:
    argv.append("--no-export")
argv += [str(a) for a in EXTRA_ARGS]
print("python experiments/{name}.py", " ".join(argv))
result = script.main(argv)  # the shared runner: train, evaluate, export, write the report'''
    return _notebook([
        _md(f"# {title}\n\n{badge(name)}\n\nRuns `experiments/{name}.py` through the shared runner "
            f"(`colorization_tf.experiment`) on your data (a folder, or one on Google Drive) or the embedded "
            "synthetic default, then shows its tables and figures. Set the parameters below; `QUICK = False` "
            "trains at the paper's settings (use a GPU runtime)."),
        _code(params, tags=["parameters"]),
        _md("## Setup"),
        _code(SETUP),
        _code(HARDWARE),
        _md("## The experiment"),
        _code(run),
        _md("## Tables and figures"),
        _code(SHOW),
    ])


def quickstart() -> nbformat.NotebookNode:
    params = f'''# Parameters (a test injects a tiny configuration after this cell)
IMAGE_SIZE = 64       # training resolution
EPOCHS = 3
MAX_IMAGES = 300      # synthetic scenes used (of 700)
MODEL = "polychromify"  # any name of colorization_tf.models.MODELS
N_PHOTOS = 3          # scikit-image photos colorized at the end
PREPARE_REAL_PHOTOS = False  # also build the debian-photos set (needs apt-get: Debian/Ubuntu, Colab)
DATA = None           # your own image folder instead of the synthetic scenes
DRIVE_DATA = ""       # on Colab: a folder under MyDrive; mounts Drive
OUT = "results/quickstart"
REPO_URL = "{REPO_URL}"'''
    data = '''from colorization_tf import experiment as ex
from colorization_tf.sources import synthetic
from colorization_tf.data.experiment_splits import discover, split
from colorization_tf.experiment.assembly import build_split_dataset

if PREPARE_REAL_PHOTOS:  # real photographs from Debian packages, split by photo (about 80 s)
    subprocess.run([sys.executable, "datasets/prepare.py", "debian-photos", "--out", "data/debian-photos"], check=True)
root = DATA or str(synthetic.default_dataset())  # 7 scene classes, generated on first use
paths, labels, classes, scan = discover(root, max_images=MAX_IMAGES)
splits = split(paths, "polychromify", seed=0)  # 64/16/20, stable per file
print(scan)
print({k: len(v) for k, v in splits.items()}, "classes:", classes)'''
    fit = '''from colorization_tf.models import build_model, get_spec

spec = get_spec(MODEL)
train_ds = build_split_dataset(splits["train"], IMAGE_SIZE, spec.normalization, 16, training=True)
val_ds = build_split_dataset(splits["val"], IMAGE_SIZE, spec.normalization, 16)
model = build_model(MODEL, image_size=IMAGE_SIZE)
model.compile(optimizer="adam", loss="mse")
history = model.fit(train_ds, validation_data=val_ds, epochs=EPOCHS, verbose=2)'''
    runner = '''# The same through the shared runner: resumable training, test metrics vs gray, export, report.
cfg = ex.ExperimentConfig(
    paper="quickstart", title="Quickstart", out_dir=OUT, saved_models_dir=f"{OUT}/saved_models",
    data=ex.DataConfig(root=DATA, protocol="polychromify", max_images=MAX_IMAGES),
    runs=[ex.RunConfig("poly", MODEL, loss="mse", epochs=EPOCHS, batch_size=16, image_size=IMAGE_SIZE, label=f"{MODEL} (MSE)")],
)
result = ex.run_experiment(cfg)
print(result.sections[0].markdown)'''
    export = '''from colorization_tf.export import export_saved_model

path = export_saved_model(model, f"{OUT}/saved_models/fit_{MODEL}", spec.replace(image_size=IMAGE_SIZE), save_keras=False)
print("exported to", path, "(load with tf.saved_model.load)")'''
    colorize = '''import io

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display
from colorization_tf.sources.bundled_photos import skimage_photos
from colorization_tf.export import load_colorizer

colorizer = load_colorizer(result.runs["poly"].export_path)  # or the `colorize` command line
photos = list(skimage_photos().items())[:N_PHOTOS]
fig, axes = plt.subplots(len(photos), 3, figsize=(9, 3 * len(photos)), squeeze=False)
for row, (name, rgb) in zip(axes, photos):
    gray = np.round(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    for ax, image, label in zip(row, (gray, colorizer(gray), rgb), ("gray", "colorized", "original")):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{name}: {label}")
        ax.axis("off")
buffer = io.BytesIO()  # shown as a PNG: the suite's plotting modules select matplotlib's file backend
fig.savefig(buffer, format="png", bbox_inches="tight")
plt.close(fig)
display(Image(buffer.getvalue()))'''
    return _notebook([
        _md(f"# colorization-tf quickstart\n\n{badge('quickstart')}\n\nInstall from the repository, build a "
            "dataset, train a model with `model.fit`, run the same through the shared experiment runner, export "
            "a SavedModel and colorize photographs, all inline."),
        _code(params, tags=["parameters"]),
        _md("## Install and set up"),
        _code(SETUP),
        _code(HARDWARE),
        _md("## Datasets"),
        _code(data),
        _md("## `model.fit`"),
        _code(fit),
        _md("## The shared runner"),
        _code(runner),
        _md("## Export"),
        _code(export),
        _md("## `colorize` photographs"),
        _code(colorize),
    ])


def notebooks() -> dict[str, nbformat.NotebookNode]:
    """Notebook file name -> notebook."""
    out = {"quickstart.ipynb": quickstart()}
    out.update({f"{name}.ipynb": paper_notebook(name, title, run) for name, (title, run) in PAPERS.items()})
    return out


def main() -> int:
    for filename, nb in notebooks().items():
        nbformat.validate(nb)
        nbformat.write(nb, str(HERE / filename))
        print("wrote", HERE / filename)
    return 0


if __name__ == "__main__":
    sys.exit(main())
