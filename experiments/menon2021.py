"""Menon & Talukdar (2021): ResNet34 U-Net, L1+SSIM then MSE+SSIM fine-tuning, and its GAN variant.

Runs: the U-Net trained with L1 + 1e-3 * SSIM-loss, then fine-tuned from it with MSE + 1e-3 *
SSIM-loss; the GAN variant: the same U-Net pretrained with L1 as the generator, then trained
against a 70x70 PatchGAN with GAN + 100 * L1 (pix2pix recipe, Adam 2e-4, betas 0.5/0.999).
Mixed precision and loss scaling are chosen by `training.py` (on a GPU: mixed_float16, both
optimizers loss-scaled). The PSNR/SSIM table follows their Table 1, with the NTIRE 2019 rows
they quote.

    python experiments/menon2021.py --data data/div2k --epochs 20   # DIV2K_train_HR / DIV2K_valid_HR
    python experiments/menon2021.py --quick

Reference:
    V. Menon, A. Talukdar, "Analysis of Colourization of Monochrome Images using CNNs", 2021;
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", 2017.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.evaluation import markdown_table  # noqa: E402

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


def table1(ctx: ex.ExperimentContext):
    """Their Table 1 layout: team, PSNR, SSIM, perceptual rank; our runs added below the quoted rows."""
    rows = [[team, v["psnr"], v["ssim"], v["perceptual_rank"]] for team, v in NTIRE_2019.items()]
    rows += [[f"this suite: {r.label}", r.metrics.get("psnr"), r.metrics.get("ssim"), None] for r in ctx.runs.values()]
    gray = ctx.evals.get("gray (zero ab)")
    if gray is not None:
        rows.append(["this suite: gray (zero ab)", gray.mean.get("psnr"), gray.mean.get("ssim"), None])
    text = markdown_table(["Team", "PSNR", "SSIM", "Perceptual rank"], rows)
    text += ("\nThe first rows are copied from the paper's Table 1 (DIV2K validation, 256 px); the rows "
             "\"this suite\" are this run's test split, PSNR/SSIM on sRGB in [0, 255].\n")
    return ex.Section("Table 1 (layout of the paper)", text, {"rows": rows})


def make_config(args=None) -> ex.ExperimentConfig:
    runs = [
        ex.RunConfig("unet_l1_ssim", "resnet_unet", loss="l1_ssim", learning_rate=1e-3, label="U-Net, L1 + SSIM"),
        ex.RunConfig("unet_mse_ssim", "resnet_unet", loss="mse_ssim", learning_rate=1e-4, init_from="unet_l1_ssim",
                     label="U-Net, fine-tuned MSE + SSIM", paper={"psnr": 21.0723, "ssim": 0.8802}),
        ex.RunConfig("generator_l1", "resnet_unet", loss="l1", learning_rate=1e-3, label="generator pretrained with L1"),
        ex.RunConfig("gan", "resnet_unet", init_from="generator_l1", gan={"l1_weight": 100.0}, learning_rate=2e-4,
                     label="GAN (PatchGAN, GAN + 100 L1)"),
    ]
    return ex.ExperimentConfig(
        paper="menon2021",
        title="Menon & Talukdar 2021: ResNet34 U-Net and its GAN variant",
        runs=runs,
        protocol="div2k" if (args and args.data) else "polychromify",
        default_epochs=EPOCHS,
        default_batch_size=16,
        paper_metric="psnr",
        notes="Split: DIV2K's own folders with `--data` (train 800 / valid 100 as test); the synthetic default uses 64/16/20.",
        hooks=[table1],
    )


def main(argv=None):
    return ex.main(make_config, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
