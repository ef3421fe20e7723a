"""Colorization as classification: ab bins, soft encoding, priors, rebalancing, annealed mean.

Zhang et al. (ECCV 2016) quantise the ab plane on a grid of width 10 and keep Q = 313 bins;
targets are soft-encoded over the nearest bins, rare colours are up-weighted with the smoothed
empirical bin prior, and predictions are decoded by the annealed mean of the bin distribution.
Ziegler (2022) reproduces this with wider bins ("bucket size") and his own weights.

Modules, one job each (their public names are also importable from here):
    bins        the bin centres (`ab_bin_centers`: Zhang's hull or the sRGB gamut, any width), the
                width of a bin count (`bin_width_for_num_bins`), the bins' 2-D grid layout
    encoding    ab <-> bin distributions: `soft_encode`, `hard_encode`, `annealed_mean`, and the
                `AnnealedMeanDecode` layer that makes models return colour
    priors      the empirical bin prior of a dataset (`compute_prior`, `smooth_prior`,
                `save_prior`/`load_prior`) and the loss weights from it (`rebalancing_weights`,
                `ziegler_weights`, `gray_image_mask`)

Reference:
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.1-2.3.
    Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022, Sec. 3.2, Fig. 3.1.
"""

from colorization_tf.quantize import bins, encoding, priors
from colorization_tf.quantize.bins import *  # noqa: F401,F403 -- the facade: each module's public names
from colorization_tf.quantize.encoding import *  # noqa: F401,F403
from colorization_tf.quantize.priors import *  # noqa: F401,F403

__all__ = ["bins", "encoding", "priors", *bins.__all__, *encoding.__all__, *priors.__all__]
