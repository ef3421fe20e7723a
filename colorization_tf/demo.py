"""`make demo`: train a real model on the embedded synthetic scenes, beat gray, export, colorize photos.

1. Trains PolyChromify's final model (293,330 parameters, Ghiotto 2021) on the embedded synthetic
   landscape scenes (generated on first use) with the shared experiment runner.
2. Scores it on held-out test images against the gray prediction (ab = 0): ab L1 and PSNR of both.
3. Exports it to `saved_models/demo_polychromify/` (SavedModel, uint8 any-size signature, .keras).
4. Reloads the export with plain `tf.saved_model.load` and colorizes the real photos scikit-image
   ships, writing gray | colorized | original figures to `results/demo/`.

    python -m colorization_tf.demo            # a few minutes on a 2-core CPU
    python -m colorization_tf.demo --quick    # about a minute: smaller, shorter

Reference:
    Ghiotto 2021, PolyChromify (model, MSE, Adam 1e-3).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from colorization_tf import evaluation
from colorization_tf import experiment as ex

MODEL = "polychromify"
IMAGE_SIZE = 64
EPOCHS = 6
BATCH_SIZE = 16
MAX_IMAGES = 700
QUICK = {"image_size": 32, "epochs": 2, "max_images": 280}
"""Defaults: 64 px, 6 epochs over the 700 synthetic scenes (448 for training); --quick: 32 px, 2 epochs, 280 images."""

MIN_PSNR_GAIN_DB = 0.5
"""The "clear margin" the demo requires over the gray prediction: PSNR up by at least this, and ab L1 down."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller and shorter (about a minute)")
    p.add_argument("--epochs", type=int, help=f"training epochs (default {EPOCHS}; quick {QUICK['epochs']})")
    p.add_argument("--image-size", type=int, help=f"training resolution (default {IMAGE_SIZE})")
    p.add_argument("--max-images", type=int, help=f"synthetic images used (default {MAX_IMAGES})")
    p.add_argument("--out", default="results/demo", help="figures and tables (default results/demo)")
    p.add_argument("--saved-models", default=ex.SAVED_MODELS_DIR, help="export root (default saved_models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    return p


def colorize_photos(export_path, out_dir) -> list[Path]:
    """Colorizes scikit-image's photos with the export; one gray | colorized | original figure each."""
    from colorization_tf.data.photos import skimage_photos
    from colorization_tf.export import load_colorizer
    from colorization_tf.plots.experiments import plot_image_rows

    colorizer = load_colorizer(export_path)
    written = []
    for name, rgb in skimage_photos().items():
        gray = np.round(np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
        colorized = colorizer(gray)
        written.append(plot_image_rows({name: [gray[..., None].repeat(3, -1), colorized, rgb]}, Path(out_dir) / f"photo_{name}.png",
                                       column_titles=["gray input", "colorized", "original"]))
    return written


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    size = args.image_size or (QUICK["image_size"] if args.quick else IMAGE_SIZE)
    epochs = args.epochs or (QUICK["epochs"] if args.quick else EPOCHS)
    max_images = args.max_images or (QUICK["max_images"] if args.quick else MAX_IMAGES)
    start = time.perf_counter()
    cfg = ex.ExperimentConfig(
        paper="demo",
        title="Demo: PolyChromify on the embedded synthetic scenes",
        runs=[ex.RunConfig(MODEL, MODEL, loss="mse", optimizer="adam", learning_rate=1e-3, label="PolyChromify (final)")],
        protocol="polychromify",
        epochs=epochs,
        batch_size=BATCH_SIZE,
        image_size=size,
        max_images=max_images,
        seed=args.seed,
        out_dir=args.out,
        saved_models_dir=args.saved_models,
        sample_every=max(1, epochs // 2),
        deterministic=False,
        verbose=args.verbose,
    )
    result = ex.run_experiment(cfg)
    run = result.runs[MODEL]
    model_l1, gray_l1 = run.metrics["ab_l1"], result.gray["ab_l1"]
    model_psnr, gray_psnr = run.metrics["psnr"], result.gray["psnr"]
    beats = model_l1 < gray_l1 and model_psnr >= gray_psnr + MIN_PSNR_GAIN_DB
    photos = colorize_photos(run.export_path, cfg.results_dir)
    seconds = time.perf_counter() - start
    summary = {
        "model": MODEL, "image_size": size, "epochs": epochs, "images": max_images, "seconds": seconds,
        "test_images": len(run.per_image), "model_ab_l1": model_l1, "gray_ab_l1": gray_l1,
        "model_psnr": model_psnr, "gray_psnr": gray_psnr, "beats_gray": beats,
        "export": run.export_path, "report": str(result.markdown_path), "photos": [str(p) for p in photos],
    }
    evaluation.write_json(cfg.results_dir / "demo_summary.json", summary)
    print(f"\nDemo finished in {seconds:.0f} s ({epochs} epochs at {size} px, {run.parameters:,} parameters).")
    print(f"Held-out test images ({len(run.per_image)}):   ab L1 (lower is better)   PSNR dB (higher is better)")
    print(f"  {MODEL:<24}{model_l1:>22.2f}{model_psnr:>27.2f}")
    print(f"  {'gray (ab = 0)':<24}{gray_l1:>22.2f}{gray_psnr:>27.2f}")
    print(f"  -> {'beats' if beats else 'does NOT clearly beat'} the gray prediction "
          f"(needs lower ab L1 and PSNR +{MIN_PSNR_GAIN_DB} dB)")
    print(f"Exported model:      {run.export_path}  (load with tf.saved_model.load, or `colorize`)")
    print(f"Report and figures:  {result.markdown_path}, {cfg.results_dir / ex.FIGURES_DIR}")
    print(f"Colorized photos:    {', '.join(str(p) for p in photos)}")
    return summary


if __name__ == "__main__":
    summary = main(sys.argv[1:])
    sys.exit(0 if summary["beats_gray"] else 1)
