"""Every model of the suite trained on the same data and scored with the same metrics.

One table (PSNR, SSIM, colorfulness, ab L1/L2, PolyChromify's "accuracy", CS520's |error| < 10
accuracy, Iizuka's scene accuracy) and one figure of the same test images colorized by every model:
a comparison no single paper makes. Each model keeps its paper's loss and normalisation; all share
the split, the epochs and the image size (`--image-size`; default 64, quick 32).

Families: PolyChromify (final and CNN), Iizuka/Lee 128 (skipped, with a note in the report, on a
flat folder: its scene head needs class folders), the ResNet34 U-Net with L1+SSIM and as the
generator of Menon & Talukdar's GAN (PatchGAN, GAN + 100 L1; here started from the L1+SSIM run
rather than a separate L1 run), ECCV16 regression (L1) and classification (weighted CE), AlexNet
regression (L1) and classification (plain soft-encoded CE), and the CS520 CNN.

    python experiments/compare_all.py --data data/landscapes --epochs 25 --image-size 128
    python experiments/compare_all.py --quick

Reference:
    The five papers of the suite (see experiments/*.py).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

import keras  # noqa: E402

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.experiment.config import CS520_ACCURACY, DEFAULT_METRIC_COLUMNS, GanSettings, POLY_ACCURACY  # noqa: E402
from colorization_tf.evaluation import SCENE_ACCURACY  # noqa: E402

IMAGE_SIZE = 64
"""Shared resolution: every model accepts it (multiples of 32 for the ResNet U-Net)."""

EPOCHS = 25


def runs() -> list[ex.RunConfig]:
    """One run per registry model family, with its paper's loss and optimiser."""
    iizuka_loss = {"ab": "mse", "scene": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    return [
        ex.RunConfig("polychromify", "polychromify", loss="mse", learning_rate=1e-3, label="PolyChromify (final)"),
        ex.RunConfig("polychromify_cnn", "polychromify_cnn", loss="mse", learning_rate=1e-3, label="PolyChromify CNN"),
        ex.RunConfig("iizuka_lee128", "iizuka_lee128", loss=iizuka_loss, loss_weights={"ab": 1.0, "scene": 1 / 300},
                     optimizer="adadelta", learning_rate=1.0, label="Iizuka / Lee 128 (alpha 1/300)"),
        ex.RunConfig("resnet_unet", "resnet_unet", loss="l1_ssim", learning_rate=1e-3, label="ResNet34 U-Net (L1+SSIM)"),
        ex.RunConfig("eccv16_regression", "eccv16_regression", loss="l1", learning_rate=1e-4, label="ECCV16 regression (L1)"),
        ex.RunConfig("eccv16_classification", "eccv16_classification", loss="wce", learning_rate=1e-4, label="ECCV16 classification (wCE)"),
        ex.RunConfig("resnet_unet_gan", "resnet_unet", init_from="resnet_unet", gan=GanSettings(l1_weight=100.0), learning_rate=2e-4,
                     label="ResNet34 U-Net GAN (PatchGAN, GAN + 100 L1)"),
        ex.RunConfig("alexnet_regression", "alexnet_regression", loss="l1", learning_rate=1e-4, label="AlexNet regression (L1)"),
        ex.RunConfig("alexnet_classification", "alexnet_classification", loss="ce", learning_rate=1e-4,
                     label="AlexNet classification (CE)"),
        ex.RunConfig("cs520_cnn", "cs520_cnn", loss="mse", learning_rate=1e-4, label="CS520 CNN"),
    ]


def make_config(args=None) -> ex.ExperimentConfig:
    return ex.ExperimentConfig(
        paper="compare_all",
        title="All models, same data, same metrics",
        runs=[ex.RunConfig(**{**r.__dict__, "image_size": IMAGE_SIZE}) for r in runs()],
        protocol="polychromify",
        default_epochs=EPOCHS,
        default_batch_size=16,
        metric_columns=(*DEFAULT_METRIC_COLUMNS, POLY_ACCURACY, CS520_ACCURACY, SCENE_ACCURACY),
        notes=(
            "Higher is better for PSNR, SSIM and the accuracies; lower for ab L1/L2. Colorfulness "
            "(Hasler & Süsstrunk) is a property, not a score: compare it with the ground truth's. "
            "Scene accuracy exists only for the Iizuka model. The GAN's generator starts from the "
            "L1+SSIM U-Net above (Menon & Talukdar pretrain it with plain L1)."
        ),
    )


def main(argv=None):
    return ex.main(make_config, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
