"""Training on views of whole photos, scored on whole held-out photos: the CPU recipe of issue 17.

`train_recipe(recipe, data_dir, workdir)` trains one registered model on random square views of
the debian-photos training photos (a random scale of the shorter side, a random position, a
horizontal flip; resized to `image_size`), with a warm-up + cosine learning rate, and every
`eval_every` steps scores it on the whole validation and test photos the way `colorize` runs it
(`export.make_serving_function`: uint8 in, the whole photo scaled to `work_side` for the model,
ab upsampled onto the full-resolution L, uint8 out). Each evaluation is logged with the CPU
seconds the process has used so far (the x-axis of the time-to-quality curves: a loaded machine
stretches wall time, not CPU time), and checkpointed (`training.checkpoints`): a killed run goes on
from its last evaluation. The weights that score best on the *validation* photos are kept beside
it (`best.weights.h5`); the test photos are only reported.

`PhotoScorer` scores any uint8 -> uint8 colorizer on whole photos: ab L1 (Lab units), PSNR,
colourfulness, per photo then averaged, the same way for a model, the gray prediction and the
lightness priors.

Reference:
    Iizuka et al. 2016, Sec. 3.5 (chroma at a working resolution, recombined with full-res L);
    Loshchilov & Hutter 2017 (SGDR: cosine schedule); Goyal et al. 2017 (warm-up).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from colorization_tf import color, export, lightness_prior, metrics
from colorization_tf.sources import whole_photos
from colorization_tf.fileio import atomic_path, atomic_write_text
from colorization_tf.models import as_preprocessor, get_spec
from colorization_tf.training import checkpoints

TRAIN_SIDE = 384
"""Training photos are kept in memory with their longer side scaled to this (views are cut from them)."""
EVAL_SIDE = 256
"""Held-out photos are scored at this longer side (truth and prediction alike)."""
LOG_FILE = "log.jsonl"
BEST_WEIGHTS = "best.weights.h5"
SELECT_KEY = "val_ab_l1"
"""Validation value the best weights are chosen by (lower is better)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One training recipe: the model, its loss, the views it trains on and the schedule.

    Attributes:
        name: run name (folder and curve label).
        model: registry name (`colorization_tf.models.MODELS`).
        model_kwargs: builder arguments (e.g. `widths` of the compact U-Net).
        loss: "l1", "mse" or "rebalanced_ce" (classification heads: Zhang et al.'s weighted
            cross-entropy with rebalancing weights fitted on the training views).
        image_size: side of the square training views.
        batch_size: views per step.
        learning_rate: peak learning rate (AdamW).
        weight_decay: AdamW's decoupled weight decay.
        schedule: "cosine" (linear warm-up, then cosine to `LR_FLOOR` of the peak at `total_steps`)
            or "constant" (warm-up, then the peak).
        warmup_steps: steps of linear warm-up.
        total_steps: steps the run trains for.
        eval_every: steps between evaluations (and checkpoints).
        crop_scale: (min, max) side of a view as a fraction of the photo's shorter side.
        flip: random horizontal flips.
        work_side: the longer side the model sees whole photos at (aspect kept); None: the
            model's square `image_size`.
        threads: TensorFlow intra-op threads (0: TensorFlow's default); set before TensorFlow
            starts (`set_threads`).
        seed: seed of the initial weights and of the view stream.
    """

    name: str
    model: str = "compact_unet"
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    loss: str = "l1"
    image_size: int = 128
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 300
    total_steps: int = 8000
    eval_every: int = 400
    crop_scale: tuple = (0.4, 1.0)
    flip: bool = True
    work_side: int | None = 160
    threads: int = 0
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


LOSSES = ("l1", "mse", "rebalanced_ce")
SCHEDULES = ("cosine", "constant")
LR_FLOOR = 0.02


def _check(recipe: Recipe) -> None:
    if recipe.loss not in LOSSES:
        raise ValueError(f"Recipe {recipe.name!r}: loss must be one of {LOSSES}, got {recipe.loss!r}")
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"Recipe {recipe.name!r}: schedule must be one of {SCHEDULES}, got {recipe.schedule!r}")
    low, high = recipe.crop_scale
    if not 0 < low <= high <= 1:
        raise ValueError(f"Recipe {recipe.name!r}: crop_scale must be 0 < min <= max <= 1, got {recipe.crop_scale!r}")
    if recipe.eval_every < 1 or recipe.total_steps < recipe.eval_every:
        raise ValueError(f"Recipe {recipe.name!r}: need 1 <= eval_every <= total_steps")


# --------------------------------------------------------------------------- views


def pixels(photos) -> list[np.ndarray]:
    """The uint8 arrays of `whole_photos.Photo`s (arrays pass through)."""
    return [p.rgb if isinstance(p, whole_photos.Photo) else p for p in photos]


def random_view(rgb: np.ndarray, size: int, rng: np.random.Generator, crop_scale=(0.4, 1.0), flip: bool = True) -> np.ndarray:
    """One square view of a photo: a random side (a fraction of its shorter side), position, flip.

    Args:
        rgb: uint8 [H, W, 3].
        size: output side.
        rng: the random generator.
        crop_scale: (min, max) fraction of the shorter side.
        flip: flip left-right with probability 1/2.

    Returns:
        uint8 [size, size, 3].
    """
    height, width = rgb.shape[:2]
    side = max(1, int(round(min(height, width) * rng.uniform(*crop_scale))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    view = Image.fromarray(rgb[top:top + side, left:left + side]).resize((size, size), Image.BILINEAR, reducing_gap=2.0)
    view = np.asarray(view)
    return view[:, ::-1] if flip and rng.random() < 0.5 else view


def view_batches(photos, recipe: Recipe, start_step: int = 0):
    """Yields uint8 [batch, size, size, 3] batches of random views from step `start_step` on.

    Batch `k` depends only on (`recipe.seed`, k): a resumed run sees the views it would have seen.
    """
    step = start_step
    while True:
        rng = np.random.default_rng([recipe.seed, step])
        picks = rng.integers(0, len(photos), recipe.batch_size)
        yield np.stack([random_view(photos[i], recipe.image_size, rng, recipe.crop_scale, recipe.flip) for i in picks])
        step += 1


def encode_views(rgb_u8, preprocessor):
    """uint8 RGB views -> (L, ab) encoded by the model's `Preprocessor` (or a normalisation), for `Dataset.map` or eager use."""
    return as_preprocessor(preprocessor).encode_lab(color.rgb_to_lab(rgb_u8))


def view_dataset(photos, recipe: Recipe, preprocessor, start_step: int = 0) -> tf.data.Dataset:
    """The training stream: `view_batches` encoded for the model (its `Preprocessor`), prefetched."""
    rgb = pixels(photos)
    spec = tf.TensorSpec([recipe.batch_size, recipe.image_size, recipe.image_size, 3], tf.uint8)
    data = tf.data.Dataset.from_generator(lambda: view_batches(rgb, recipe, start_step), output_signature=spec)
    return data.map(lambda x: encode_views(x, preprocessor)).prefetch(2)


# --------------------------------------------------------------------------- scoring


def lab_of(rgb_u8: np.ndarray) -> np.ndarray:
    return np.asarray(color.rgb_to_lab(rgb_u8))


def prior_colorizer(prior: lightness_prior.LightnessPrior):
    """A uint8 -> uint8 colorizer from a lightness prior (ab from L alone), scored like a model."""

    def colorize(rgb_u8: np.ndarray) -> np.ndarray:
        l = lab_of(rgb_u8)[..., :1]
        ab = prior.predict(l)
        return np.asarray(export.lab_to_uint8(tf.constant(l), tf.cast(ab, tf.float32)))

    return colorize


def gray_colorizer(rgb_u8: np.ndarray) -> np.ndarray:
    """The zero-chroma prediction: L kept, a = b = 0."""
    l = lab_of(rgb_u8)[..., :1]
    return np.asarray(export.lab_to_uint8(tf.constant(l), tf.zeros(l.shape[:-1] + (2,), tf.float32)))


def model_colorizer(model, spec, work_side: int | None):
    """A uint8 -> uint8 colorizer running `model` as its export would (`make_serving_function`)."""
    serve = export.make_serving_function(model, spec, work_side=work_side, compile_pixels=False)

    def colorize(rgb_u8: np.ndarray) -> np.ndarray:
        return serve(tf.constant(rgb_u8[None]))[export.OUTPUT_KEY][0].numpy()

    return colorize


class PhotoScorer:
    """Scores colorizers on whole photos: ab L1, PSNR and colourfulness per photo, averaged.

    Args:
        photos: `whole_photos.Photo`s (or uint8 arrays), already at the scoring size.
    """

    def __init__(self, photos):
        self.photos = pixels(photos)
        self._labs = [lab_of(p) for p in self.photos]

    def score(self, colorize) -> dict[str, float]:
        """Mean over photos of ab L1 (Lab units), PSNR (dB) and colourfulness of `colorize(uint8)`."""
        ab_l1, psnr, colorfulness = [], [], []
        for rgb, lab in zip(self.photos, self._labs):
            out = np.asarray(colorize(rgb))
            ab_l1.append(float(metrics.ab_l1(lab[None, ..., 1:], lab_of(out)[None, ..., 1:])[0]))
            psnr.append(float(metrics.psnr(rgb, out, max_db=100.0)))
            colorfulness.append(float(metrics.colorfulness(out)))
        return {"ab_l1": float(np.mean(ab_l1)), "psnr": float(np.mean(psnr)), "colorfulness": float(np.mean(colorfulness))}


def fit_priors(photos, recipe: Recipe, views: int = 2000) -> dict[str, lightness_prior.LightnessPrior]:
    """E[ab | L] and median(ab | L) fitted on `views` training views (the run's own view stream)."""
    batches = []
    stream = view_batches(pixels(photos), dataclasses.replace(recipe, seed=recipe.seed + 10_000))
    for _ in range(max(1, views // recipe.batch_size)):
        l, ab = encode_views(next(stream), "zhang")
        batches.append((l, ab))
    return lightness_prior.fit_lightness_priors(batches, "zhang")


def reference_scores(scorers: dict[str, PhotoScorer], priors: dict) -> dict[str, dict[str, dict]]:
    """Gray and both priors scored on each split: {row: {split: scores}}."""
    rows = {"gray": gray_colorizer, **{key: prior_colorizer(prior) for key, prior in priors.items()}}
    return {row: {split: scorer.score(fn) for split, scorer in scorers.items()} for row, fn in rows.items()}


# --------------------------------------------------------------------------- training


def learning_rate_schedule(recipe: Recipe):
    """Linear warm-up to `learning_rate`, then cosine decay to `LR_FLOOR` of it (or constant)."""
    if recipe.schedule == "constant":
        return keras.optimizers.schedules.CosineDecay(0.0, 1, alpha=1.0, warmup_target=recipe.learning_rate,
                                                      warmup_steps=recipe.warmup_steps)
    return keras.optimizers.schedules.CosineDecay(0.0, max(1, recipe.total_steps - recipe.warmup_steps), alpha=LR_FLOOR,
                                                  warmup_target=recipe.learning_rate, warmup_steps=recipe.warmup_steps)


def _loss(recipe: Recipe, spec, photos):
    if recipe.loss == "l1":
        return "mae"
    if recipe.loss == "mse":
        return "mse"
    from colorization_tf import quantize
    from colorization_tf.losses import SoftEncodedCrossEntropy

    centers = quantize.ab_bin_centers(spec.head.bin_width, spec.head.gamut)
    stream = view_batches(photos, dataclasses.replace(recipe, seed=recipe.seed + 20_000))
    ab = [np.asarray(encode_views(next(stream), "zhang")[1]) * color.AB_SCALE for _ in range(64)]
    prior = quantize.compute_prior(ab, centers, bin_width=spec.head.bin_width)
    return SoftEncodedCrossEntropy(bin_width=spec.head.bin_width, gamut=spec.head.gamut,
                                   class_weights=quantize.rebalancing_weights(prior))


def build_recipe_model(recipe: Recipe, photos=()):
    """The compiled colour network of `recipe` (a multi-output model trains its colour output only)."""
    spec = get_spec(recipe.model)
    keras.utils.set_random_seed(recipe.seed)
    model = spec.build(**{"image_size": recipe.image_size, **recipe.model_kwargs})
    if isinstance(model.output, dict):
        model = keras.Model(model.inputs, model.output[spec.head.output], name=model.name)
    optimizer = keras.optimizers.AdamW(learning_rate_schedule(recipe), weight_decay=recipe.weight_decay)
    model.compile(optimizer, _loss(recipe, spec, photos), jit_compile=False)
    return model, spec


class _EvalAndCheckpoint(keras.callbacks.Callback):
    def __init__(self, recipe, workdir, spec, scorers, history, cpu_offset, progress):
        super().__init__()
        self.recipe, self.workdir, self.spec, self.scorers = recipe, Path(workdir), spec, scorers
        self.history, self.cpu_offset, self.progress = history, cpu_offset, progress
        self.cpu_start = time.process_time()
        self.wall_start = time.time()
        self.colorize = None

    def on_epoch_end(self, epoch, logs=None):
        steps = (epoch + 1) * self.recipe.eval_every
        cpu = self.cpu_offset + time.process_time() - self.cpu_start
        if self.colorize is None:  # traced once; it reads the variables as they are at each call
            self.colorize = model_colorizer(self.model, self.spec, self.recipe.work_side)
        colorize = self.colorize
        row = {"step": steps, "cpu_s": round(cpu, 1), "loss": float((logs or {}).get("loss", float("nan"))),
               "wall_s": round(time.time() - self.wall_start, 1), "loadavg": round(os.getloadavg()[0], 2)}
        for split, scorer in self.scorers.items():
            row.update({f"{split}_{k}": v for k, v in scorer.score(colorize).items()})
        evals = self.history.setdefault("evals", [])
        evals.append(row)
        best = self.history.get("best")
        if best is None or row[SELECT_KEY] < best[SELECT_KEY]:
            with atomic_path(self.workdir / BEST_WEIGHTS, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            self.history["best"] = row
        checkpoints.save_checkpoint(self.workdir, self.model, epoch + 1, self.history)
        with open(self.workdir / LOG_FILE, "a") as log:
            log.write(json.dumps(row) + "\n")
        self.progress(row)


def _print_row(recipe: Recipe):
    def progress(row):
        print(f"[{recipe.name}] step {row['step']}/{recipe.total_steps}  cpu {row['cpu_s'] / 60:.1f} min  "
              f"loss {row['loss']:.4f}  val ab L1 {row['val_ab_l1']:.3f}  test ab L1 {row['test_ab_l1']:.3f}  "
              f"test PSNR {row['test_psnr']:.2f}  test colourfulness {row['test_colorfulness']:.1f}", flush=True)
    return progress


def load_scoring_photos(data_dir) -> dict[str, PhotoScorer]:
    """Scorers for the whole validation and test photos at `EVAL_SIDE`."""
    return {split: PhotoScorer(whole_photos.load_split(data_dir, split, EVAL_SIDE)) for split in ("val", "test")}


def set_threads(threads: int) -> None:
    """TensorFlow's intra-op threads (0: its default); only before TensorFlow runs its first op.

    Raises:
        RuntimeError: TensorFlow already started with another thread count.
    """
    if not threads or tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    except RuntimeError:
        raise RuntimeError(f"recipe: cannot set {threads} threads: TensorFlow has already started; "
                           f"call recipe.set_threads({threads}) before anything else") from None


def train_recipe(recipe: Recipe, data_dir, workdir, *, train_photos=None, scorers=None, progress=None) -> dict:
    """Trains `recipe` into `workdir`, resuming from its last checkpoint; returns its history.

    Args:
        recipe: the `Recipe`.
        data_dir: a debian-photos folder (`datasets/prepare.py debian-photos`).
        workdir: the run's folder: `recipe.json`, checkpoints, `log.jsonl`, `best.weights.h5`.
        train_photos: the training photos (default: loaded at `TRAIN_SIDE`).
        scorers: {"val": PhotoScorer, "test": PhotoScorer} (default: `load_scoring_photos`).
        progress: called with each evaluation's row (default: one printed line).

    Returns:
        {"evals": [row, ...], "best": the row with the lowest validation ab L1}; each row has the
        step, CPU seconds, training loss and the val_/test_ scores.

    Raises:
        checkpoints.ResumeError: `workdir` holds a run of another recipe.
    """
    _check(recipe)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    stored = workdir / "recipe.json"
    current = json.loads(json.dumps(recipe.to_dict()))
    if stored.exists() and json.loads(stored.read_text()) != current:
        raise checkpoints.ResumeError(f"{stored}: holds another recipe; use another folder or delete it to start again")
    atomic_write_text(stored, json.dumps(current, indent=1))
    set_threads(recipe.threads)
    if train_photos is None:
        train_photos = [p.rgb for p in whole_photos.load_split(data_dir, "train", TRAIN_SIDE)]
    scorers = scorers if scorers is not None else load_scoring_photos(data_dir)
    model, spec = build_recipe_model(recipe, train_photos)
    done, history = checkpoints.restore_checkpoint(model, workdir)
    total_evals = recipe.total_steps // recipe.eval_every
    if done >= total_evals:
        return history
    cpu_offset = history["evals"][-1]["cpu_s"] if history.get("evals") else 0.0
    data = view_dataset(train_photos, recipe, spec.preprocessor, start_step=done * recipe.eval_every)
    callback = _EvalAndCheckpoint(recipe, workdir, spec, scorers, history, cpu_offset, progress or _print_row(recipe))
    model.fit(data, steps_per_epoch=recipe.eval_every, epochs=total_evals, initial_epoch=done, callbacks=[callback], verbose=0)
    return history
