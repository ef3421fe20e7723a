"""Menon & Talukdar (2021): ResNet34 U-Net, L1+SSIM then MSE+SSIM fine-tuning, and its GAN variant.

Runs: the U-Net trained with L1 + 1e-3 * SSIM-loss, then fine-tuned from it with MSE + 1e-3 *
SSIM-loss; the GAN variant: the same U-Net pretrained with L1 as the generator, then trained
against a 70x70 PatchGAN with GAN + 100 * L1 (pix2pix recipe, Adam 2e-4, betas 0.5/0.999).
Mixed precision and loss scaling are chosen by `colorization_tf.training` (on a GPU: mixed_float16, both
optimizers loss-scaled). The PSNR/SSIM table follows their Table 1, with the NTIRE 2019 rows
they quote; this suite's rows are scored twice: on each test image at its own full resolution
(DIV2K validation images, as NTIRE scored them) through the any-size export (the U-Net runs at the
image's size rounded to a multiple of 32), and at the training size (square resizes).

    python experiments/menon2021.py --data data/div2k --epochs 20   # DIV2K_train_HR / DIV2K_valid_HR
    python experiments/menon2021.py --quick

Reference:
    V. Menon, A. Talukdar, "Analysis of Colourization of Monochrome Images using CNNs", 2021;
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", 2017.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.experiment.config import GanSettings  # noqa: E402
from colorization_tf import suite_facts  # noqa: E402
from colorization_tf.evaluation import markdown_table  # noqa: E402
from colorization_tf.models import get_spec  # noqa: E402
from colorization_tf.experiment.protocol import NOT_STATED, VALIDATION_OWN, Paper  # noqa: E402

EPOCHS = 20
"""Not stated in the paper; 20 epochs at 256 px."""

NTIRE_2019 = {
    "PCVIITM": {"psnr": 22.1232, "ssim": 0.9406, "perceptual_rank": 1},
    "Athi": {"psnr": 20.871, "ssim": 0.9229, "perceptual_rank": 2},
    "VIDAR": {"psnr": 22.1949, "ssim": 0.9419, "perceptual_rank": 4},
    "Our Model (Menon & Talukdar)": {"psnr": 21.0723, "ssim": 0.8802, "perceptual_rank": None},
    "TeamIndia": {"psnr": 17.9643, "ssim": 0.8472, "perceptual_rank": 3},
    "pksvisionmm": {"psnr": 21.2248, "ssim": 0.9279, "perceptual_rank": 5},
    "ITU-GO": {"psnr": 21.0773, "ssim": 0.8526, "perceptual_rank": 6},
}
"""Table 1 of the paper, in its order (NTIRE 2019 colorization challenge on DIV2K, and their model)."""


def native_resolution_scores(ctx: ex.ExperimentContext, name: str) -> dict:
    """PSNR/SSIM of run `name` on every test image at its own full resolution, through the export.

    The trained U-Net is rebuilt for any input size, exported at native resolution (`ModelSpec.size_multiple`, 32; a temporary
    folder: the run's own export is unchanged) and called on each test image's uint8 RGB; the
    output (full resolution, original L) is compared with the image itself.
    """
    import shutil
    import tempfile

    import numpy as np

    from colorization_tf import export, metrics
    from colorization_tf.data.files import load_image_rgb

    run = ctx.runs[name]
    spec = get_spec(run.model)
    net = spec.build(**{**run.config.get("model_kwargs", {}), "image_size": None})
    net.set_weights(ctx.models[name].get_weights())
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-native-", dir=ctx.results_dir))
    try:
        run_spec = spec.replace(image_size=run.image_size, normalization=run.normalization)
        path = export.export_saved_model(net, folder / "export", run_spec, native_resolution=True, save_keras=False)
        colorize = export.load_colorizer(path)
        psnr, ssim, sizes = [], [], []
        for image_path in ctx.splits["test"]:
            rgb = load_image_rgb(image_path)
            out = colorize(rgb)
            psnr.append(float(metrics.psnr(rgb, out, max_db=metrics.PSNR_CAP_DB)))
            ssim.append(float(metrics.ssim(rgb, out)) if min(rgb.shape[:2]) >= metrics.SSIM_MIN_SIZE else float("nan"))
            sizes.append(f"{rgb.shape[1]}x{rgb.shape[0]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.nanmean(ssim)), "images": len(psnr),
            "sizes": sorted(set(sizes))[:5]}


PAPER_PROTOCOL = {
    "dataset": Paper(900, "Section 3.1 (DIV2K: 800 training, 100 validation images)"),
    "split": Paper("DIV2K's own folders: 800 train, 100 valid (used as test)", "Section 3.1; Table 1 compares with NTIRE 2019 on DIV2K"),
    "split_protocol": "div2k",
    "image_size": Paper(NOT_STATED, "not in the paper"),
    "augment": Paper(NOT_STATED, "not in the paper"),
    "optimizer": Paper(NOT_STATED, "not in the paper"),
    "learning_rate": Paper(NOT_STATED, "not in the paper"),
    "batch_size": Paper(NOT_STATED, "not in the paper"),
    "epochs": Paper(NOT_STATED, "not in the paper (Section 4: 'after a few epochs')"),
    "validation": Paper(VALIDATION_OWN, "Section 3.1 (100 validation images); Section 4 ('visual inspection of validation images "
                        "after a few epochs')", shown="DIV2K's 100 validation images"),
    "selection": Paper(NOT_STATED, "not in the paper"),
    "init": Paper(NOT_STATED, "not in the paper; the tutorials it cites ([6], [7]) start the encoder from ImageNet weights "
                  "according to the issue-19 audit: their pages cannot be reached from this project's machines to check"),
    "resize": Paper(NOT_STATED, "not in the paper"),
    "upsampling": Paper(NOT_STATED, "not in the paper (a U-Net: its output is at the input's resolution, Section 3.5)"),
    "target": Paper(NOT_STATED, "not in the paper"),
    "gray": Paper(suite_facts.LAB_L, "Section 3.4 ('the L-channel corresponds to grayscale'); Table 1's NTIRE 2019 rows were scored "
                  "on inputs grayed by 0.2989 R + 0.587 G + 0.114 B (the NTIRE 2019 challenge, not this paper)"),
    "determinism": Paper(NOT_STATED, "not in the paper"),
    "precision": Paper(NOT_STATED, "not in the paper"),
    "xla": Paper(NOT_STATED, "not in the paper"),
    "strategy": Paper(NOT_STATED, "not in the paper"),
}
"""Their Section 3, transcribed; the paper states no image size, optimiser, batch size or epochs."""

PAPER_LOSS = {
    "unet_l1_ssim": Paper("l1_ssim (mean)", "Section 3.3 ('L1 Loss + SSIM for training', lambda = 1e-3)"),
    "unet_mse_ssim": Paper("mse_ssim (mean)", "Section 3.3 ('MSE Loss + SSIM for fine-tuning', lambda = 1e-3)"),
    "generator_l1": Paper(NOT_STATED, "not in the paper: pix2pix's L1 pretraining of the generator (Isola et al. 2017)"),
    "gan": Paper(NOT_STATED, "Section 4 trains GANs with the same U-Net; their loss is not given (pix2pix's GAN + 100 L1 here)"),
}
"""Each run's loss, transcribed."""

PROTOCOL_NOTES = {
    "split": "the embedded synthetic scenes have no DIV2K folders: 64/16/20 hash split",
    "image_size": "not stated: 256 (the pix2pix recipe they cite)",
    "optimizer": "not stated: Adam (pix2pix's 2e-4, betas 0.5/0.999 for the GAN)",
    "validation": "the paper does not say which images Table 1 scores; the suite tests on DIV2K's 100 valid images (the "
                  "only public DIV2K ground truth left) and monitors ~10% of the training images, so no tested image steers "
                  "training",
}


def table1(ctx: ex.ExperimentContext):
    """Their Table 1 layout: team, PSNR, SSIM, perceptual rank; our runs added below the quoted rows."""
    rows = [[f"{team} (quoted)", v["psnr"], v["ssim"], v["perceptual_rank"]] for team, v in NTIRE_2019.items()]
    native = {name: native_resolution_scores(ctx, name) for name in ctx.runs}
    size = next(iter(ctx.runs.values())).image_size if ctx.runs else None
    for name, r in ctx.runs.items():
        rows.append([f"this suite: {r.label}, full resolution", native[name]["psnr"], native[name]["ssim"], None])
        rows.append([f"this suite: {r.label}, {r.image_size}x{r.image_size} resize", r.metrics.get("psnr"), r.metrics.get("ssim"), None])
    gray = ctx.evals.get("gray (zero ab)")
    if gray is not None:
        rows.append([f"this suite: gray (zero ab), {size}x{size} resize", gray.mean.get("psnr"), gray.mean.get("ssim"), None])
    text = markdown_table(["Team", "PSNR", "SSIM", "Perceptual rank"], rows)
    images = next(iter(native.values()))["images"] if native else 0
    text += ("\nRows marked *quoted* are copied from the paper's Table 1: the NTIRE 2019 colorization challenge "
             "and the authors' model; the challenge scored its own test images, not the DIV2K validation images "
             "scored here, so the quoted rows are another test set, not a figure to compare with; the paper does not "
             "state the resolution its own number was measured at. *Full resolution*: this suite's model on each of the "
             f"{images} test images at its own size (the any-size export; the U-Net runs at the size rounded to a "
             f"multiple of {get_spec('resnet_unet').size_multiple}, the chroma is resized back and joined with the original L); "
             "the images as prepared, which `datasets/prepare.py div2k --max-side 1024` shrinks to 1024 px and re-encodes "
             "as JPEG (not the PNG originals). *Resize*: the same test images squashed to the training size. PSNR/SSIM on sRGB.\n")
    return ex.Section("Table 1 (layout of the paper)", text, {"rows": rows, "full_resolution": native})


def make_config(args=None) -> ex.ExperimentConfig:
    runs = [
        ex.RunConfig("unet_l1_ssim", "resnet_unet", loss="l1_ssim", learning_rate=1e-3, label="U-Net, L1 + SSIM",
                     paper_protocol={"loss": PAPER_LOSS["unet_l1_ssim"]}),
        ex.RunConfig("unet_mse_ssim", "resnet_unet", loss="mse_ssim", learning_rate=1e-4, init_from="unet_l1_ssim",
                     label="U-Net, fine-tuned MSE + SSIM", paper_scores={"psnr": 21.0723, "ssim": 0.8802},
                     paper_protocol={"loss": PAPER_LOSS["unet_mse_ssim"]}),
        ex.RunConfig("generator_l1", "resnet_unet", loss="l1", learning_rate=1e-3, label="generator pretrained with L1",
                     paper_protocol={"loss": PAPER_LOSS["generator_l1"]}),
        ex.RunConfig("gan", "resnet_unet", init_from="generator_l1", gan=GanSettings(l1_weight=100.0), learning_rate=2e-4,
                     label="GAN (PatchGAN, GAN + 100 L1)", paper_protocol={"loss": PAPER_LOSS["gan"]}),
    ]
    runs = with_encoder_weights(runs, getattr(args, "encoder_weights", None))
    return ex.ExperimentConfig(
        paper="menon2021",
        title="Menon & Talukdar 2021: ResNet34 U-Net and its GAN variant",
        runs=runs,
        protocol="div2k" if (args and args.data) else "polychromify",
        augment=True,  # pix2pix's random jitter + mirroring, as crops + flips
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes=PROTOCOL_NOTES,
        default_epochs=EPOCHS,
        default_batch_size=16,
        paper_metric="psnr",
        notes="Split: DIV2K's own folders with `--data` (train 800 / valid 100 as test); the synthetic default uses 64/16/20.",
        hooks=[table1],
    )


def with_encoder_weights(runs: list[ex.RunConfig], path: str | None) -> list[ex.RunConfig]:
    """`--encoder-weights FILE`: every U-Net that does not start from an earlier run starts its ResNet34
    encoder from FILE (ImageNet weights the user has: `models.resnet_unet.load_resnet_weights`;
    nothing is downloaded). The file is checked when the model is built; a missing one stops here."""
    if not path:
        return runs
    if not os.path.isfile(path):
        raise SystemExit(f"--encoder-weights {path}: no such file (a .weights.h5 / .keras / .h5 Keras ResNet34 encoder, "
                         "or an .npz / .h5 of torchvision resnet34 arrays)")
    return [dataclasses.replace(r, model_kwargs={**r.model_kwargs, "pretrained_weights": os.path.abspath(path)})
            if r.model == "resnet_unet" and r.init_from is None else r for r in runs]


def _add_arguments(parser) -> None:
    parser.add_argument("--encoder-weights", metavar="FILE",
                        help="start the U-Net's ResNet34 encoder from this file of ImageNet weights (Keras .weights.h5 / "
                             ".keras / .h5 encoder, or torchvision arrays in .npz / .h5); default: random (He) init")


def main(argv=None):
    return ex.main(make_config, argv, add_arguments=_add_arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
