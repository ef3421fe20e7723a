"""The whole-photo recipe: views, their encoding, scoring on whole photos, a resumable run."""

import json

import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import color, lightness_prior
from colorization_tf import recipe as rc


def _photo(height, width, seed=0):
    """A smooth colour photo: a hue ramp across, brightness down (no flat areas, every side distinct)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(seed)
    r = 0.5 + 0.4 * np.sin(x / width * 3 + rng.uniform(0, 3))
    g = 0.5 + 0.4 * np.cos(y / height * 2 + rng.uniform(0, 3))
    b = 0.3 + 0.5 * (x + y) / (width + height)
    return (np.stack([r, g, b], -1) * 255).round().astype(np.uint8)


def test_random_view_is_a_resized_square_part_of_the_photo():
    photo = _photo(60, 90)
    view = rc.random_view(photo, 30, np.random.default_rng(1), crop_scale=(1.0, 1.0), flip=False)
    assert view.shape == (30, 30, 3) and view.dtype == np.uint8
    # scale 1 of the shorter side: a 60 x 60 square somewhere along the width, halved
    candidates = [np.asarray(tf.image.resize(photo[:, left:left + 60], (30, 30), antialias=True)) for left in range(31)]
    errors = [np.abs(view.astype(float) - c).mean() for c in candidates]
    assert min(errors) < 2.0
    assert max(errors) > 5.0  # the position matters: the check can fail


def test_view_flip_mirrors_the_view():
    photo = _photo(40, 40)
    seen = {rc.random_view(photo, 40, np.random.default_rng(s), crop_scale=(1.0, 1.0))[:, 0, 0].tobytes() for s in range(8)}
    assert len(seen) == 2  # the whole square, flipped or not


def test_view_batches_depend_only_on_seed_and_step():
    photos = [_photo(50, 70, s) for s in range(3)]
    recipe = rc.Recipe("t", image_size=16, batch_size=4)
    stream = rc.view_batches(photos, recipe)
    first = [next(stream) for _ in range(4)]
    resumed = next(rc.view_batches(photos, recipe, start_step=3))
    np.testing.assert_array_equal(resumed, first[3])
    assert not np.array_equal(first[0], first[1])


def test_encode_views_eager_and_in_dataset_map_agree():
    batch = np.stack([_photo(16, 16, s) for s in range(2)])
    l_eager, ab_eager = rc.encode_views(batch, "zhang")
    l_map, ab_map = next(iter(tf.data.Dataset.from_tensors(batch).map(lambda x: rc.encode_views(x, "zhang"))))
    np.testing.assert_allclose(l_map, l_eager, atol=1e-5)
    np.testing.assert_allclose(ab_map, ab_eager, atol=1e-5)
    lab = np.asarray(color.rgb_to_lab(batch))
    np.testing.assert_allclose(np.asarray(ab_eager) * color.AB_SCALE, lab[..., 1:], atol=1e-3)
    np.testing.assert_allclose(np.asarray(l_eager) * 100 + 50, lab[..., :1], atol=1e-3)


def test_scorer_tells_the_truth_from_gray():
    photos = [_photo(24, 32, s) for s in range(3)]
    scorer = rc.PhotoScorer(photos)
    truth = scorer.score(lambda rgb: rgb)
    gray = scorer.score(rc.gray_colorizer)
    assert truth["ab_l1"] == pytest.approx(0.0, abs=1e-6)
    expected_gray = np.mean([np.abs(np.asarray(color.rgb_to_lab(p))[..., 1:]).mean() for p in photos])
    assert gray["ab_l1"] == pytest.approx(expected_gray, rel=0.02)  # gray re-quantised to uint8
    assert gray["colorfulness"] < 1.0 < truth["colorfulness"]
    assert truth["psnr"] > gray["psnr"] + 5


def test_prior_colorizer_predicts_the_colour_of_each_lightness():
    # every pixel of this photo has the same (a, b) for its lightness: the median prior recovers it
    l = np.linspace(20, 80, 32, dtype=np.float32)[None, :, None].repeat(8, 0)
    lab = np.concatenate([l, np.full_like(l, 20.0), np.full_like(l, -10.0)], -1)
    photo = np.asarray(tf.cast(tf.round(color.lab_to_rgb(lab) * 255), tf.uint8))
    l_enc, ab_enc = rc.encode_views(photo[None], "zhang")
    prior = lightness_prior.fit_lightness_priors([(l_enc, ab_enc)], "zhang")["median"]
    scorer = rc.PhotoScorer([photo])
    assert scorer.score(rc.prior_colorizer(prior))["ab_l1"] < 0.1 * scorer.score(rc.gray_colorizer)["ab_l1"]


def test_recipe_rejects_bad_settings():
    with pytest.raises(ValueError, match="loss"):
        rc._check(rc.Recipe("bad", loss="huber"))
    with pytest.raises(ValueError, match="crop_scale"):
        rc._check(rc.Recipe("bad", crop_scale=(0.0, 1.0)))


TINY = dict(model_kwargs={"widths": (4, 4, 8, 8), "global_units": 8}, image_size=16, batch_size=2,
            total_steps=4, eval_every=2, warmup_steps=1, work_side=16)


def test_train_recipe_logs_selects_on_validation_and_resumes(tmp_path):
    photos = [_photo(24, 32, s) for s in range(3)]
    scorers = {"val": rc.PhotoScorer(photos[:1]), "test": rc.PhotoScorer(photos[1:2])}
    recipe = rc.Recipe("tiny", **TINY)
    rows = []

    def stop_after_first(row):
        rows.append(row)
        raise KeyboardInterrupt  # a kill right after the first checkpoint

    with pytest.raises(KeyboardInterrupt):
        rc.train_recipe(recipe, None, tmp_path, train_photos=photos, scorers=scorers, progress=stop_after_first)
    assert [r["step"] for r in rows] == [2]
    history = rc.train_recipe(recipe, None, tmp_path, train_photos=photos, scorers=scorers, progress=rows.append)
    assert [r["step"] for r in history["evals"]] == [2, 4]
    assert [r["step"] for r in rows] == [2, 4]  # resumed at step 2: the first two steps were not redone
    assert rows[1]["cpu_s"] >= rows[0]["cpu_s"]
    best = min(history["evals"], key=lambda r: r["val_ab_l1"])
    assert history["best"]["step"] == best["step"]
    assert (tmp_path / rc.BEST_WEIGHTS).is_file()
    logged = [json.loads(line) for line in (tmp_path / rc.LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in logged] == [2, 4]
    # finished: a third call trains nothing more
    assert rc.train_recipe(recipe, None, tmp_path, train_photos=photos, scorers=scorers, progress=rows.append)["evals"] == history["evals"]
    assert len(rows) == 2
    # another recipe in the same folder is refused, before anything is built
    with pytest.raises(ValueError, match="another recipe"):
        rc.train_recipe(rc.Recipe("tiny", **{**TINY, "learning_rate": 0.1}), None, tmp_path, train_photos=photos,
                        scorers=scorers, progress=rows.append)
