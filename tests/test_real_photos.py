"""The real-photo experiment: E[ab | L], the hue histogram, the prepared split, and a tiny run on a
fake debian-photos folder (crops of a few generated "photos" per package, split by photo)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization_tf import color, lightness_prior
from colorization_tf.data.splits import write_splits

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("exp_real_photos", REPO / "experiments" / "real_photos.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batch(l, ab, norm="zhang"):
    n = color.get_normalization(norm)
    return n.encode_l(np.asarray(l, np.float32)[..., None]), n.encode_ab(np.asarray(ab, np.float32))


def test_lightness_prior_is_the_mean_ab_per_lightness_bin():
    l = np.full((1, 4, 4), 12.0)  # bin 2 (10-15)
    l[:, :, 2:] = 87.0  # bin 17
    ab = np.zeros((1, 4, 4, 2))
    ab[:, :2, :2] = [10.0, -20.0]
    ab[:, 2:, :2] = [30.0, 0.0]  # dark pixels: mean (20, -10)
    ab[:, :, 2:] = [-5.0, 40.0]
    prior = lightness_prior.fit_lightness_prior([_batch(l, ab)], "zhang")
    assert prior.counts[2] == 8 and prior.counts[17] == 8 and prior.counts.sum() == 16
    np.testing.assert_allclose(prior.predict(np.array([[11.0], [89.0]])), [[20.0, -10.0], [-5.0, 40.0]], atol=1e-5)
    # bin 10: 8/15 of the way from bin 2 to bin 17
    np.testing.assert_allclose(prior.predict(np.array([[50.0]])), [[20 - 25 * 8 / 15, -10 + 50 * 8 / 15]], atol=1e-4)
    np.testing.assert_allclose(prior.predict(np.array([0.0, 100.0, 130.0])), [[20, -10], [-5, 40], [-5, 40]], atol=1e-5)


def test_lightness_prior_scores_better_than_gray_when_colour_follows_lightness():
    from colorization_tf.evaluation import evaluate_gray

    rng = np.random.default_rng(0)
    l = rng.uniform(20, 90, (4, 16, 16))
    ab = np.stack([l - 50.0, 60.0 - l], -1)  # colour a function of lightness: the prior can learn it
    data = [_batch(l[:2], ab[:2]), _batch(l[2:], ab[2:])]
    prior = lightness_prior.fit_lightness_prior(data[:1], "zhang")
    scored = lightness_prior.evaluate_lightness_prior(prior, data[1:], "zhang")
    gray = evaluate_gray(data[1:], "zhang")
    assert scored.name == lightness_prior.E_AB_GIVEN_L and scored.n_images == 2
    assert scored.mean["ab_l1"] < 0.2 * gray.mean["ab_l1"]


def test_lightness_median_is_the_l1_reference_where_the_mean_loses_to_gray():
    from colorization_tf.evaluation import evaluate_gray

    rng = np.random.default_rng(1)
    l = rng.uniform(40, 60, (4, 16, 16))  # all in bins 8-11
    ab = np.zeros((4, 16, 16, 2))
    vivid = rng.uniform(size=(4, 16, 16)) < 0.2  # a fifth of the pixels vivid, the rest gray
    ab[vivid] = [60.0, 45.0]
    data = [_batch(l[:2], ab[:2]), _batch(l[2:], ab[2:])]
    mean = lightness_prior.fit_lightness_prior(data[:1], "zhang")
    median = lightness_prior.fit_lightness_prior(data[:1], "zhang", statistic="median")
    assert median.name == lightness_prior.MEDIAN_AB_GIVEN_L and median.to_json()["statistic"] == "median"
    filled = median.counts > 0
    np.testing.assert_allclose(median.ab[filled], 0.0, atol=lightness_prior.AB_STEP / 2)
    assert np.all(mean.ab[filled, 0] > 5.0)  # the mean drifts towards the vivid fifth
    gray = evaluate_gray(data[1:], "zhang").mean["ab_l1"]
    assert lightness_prior.evaluate_lightness_prior(mean, data[1:], "zhang").mean["ab_l1"] > gray
    assert lightness_prior.evaluate_lightness_prior(median, data[1:], "zhang").mean["ab_l1"] <= gray + 1e-6
    with pytest.raises(ValueError, match="statistic"):
        lightness_prior.fit_lightness_prior(data[:1], "zhang", statistic="mode")


def test_both_statistics_in_one_pass_equal_separate_fits():
    rng = np.random.default_rng(2)
    data = [_batch(rng.uniform(0, 100, (2, 8, 8)), rng.uniform(-60, 60, (2, 8, 8, 2)))]
    both = lightness_prior.fit_lightness_priors(data, "zhang")
    for statistic in lightness_prior.STATISTICS:
        alone = lightness_prior.fit_lightness_prior(data, "zhang", statistic=statistic)
        np.testing.assert_array_equal(both[statistic].ab, alone.ab)
        np.testing.assert_array_equal(both[statistic].counts, alone.counts)
        assert both[statistic].statistic == statistic


def test_lightness_median_of_a_known_sample():
    l = np.full((1, 1, 5), 52.0)
    ab = np.stack([np.array([[[-30.0, -10.0, 7.0, 20.0, 90.0]]]), np.array([[[5.0, 5.0, -64.0, 100.0, 3.0]]])], -1)
    prior = lightness_prior.fit_lightness_prior([_batch(l, ab)], "zhang", statistic="median")
    np.testing.assert_allclose(prior.predict(np.array([[52.0]])), [[7.0, 5.0]], atol=lightness_prior.AB_STEP / 2 + 1e-4)


def test_hue_histogram_and_collapse():
    mod = _script()
    ab = np.array([[40.0, 10.0], [0.0, 50.0], [-30.0, 5.0], [-30.0, 4.0], [1.0, 1.0]])  # red, yellow, green x2, gray
    hist, coloured = mod.hue_histogram(ab)
    np.testing.assert_allclose(hist, [0.25, 0.25, 0.5, 0, 0, 0])
    assert coloured == pytest.approx(0.8)
    assert mod.hue_histogram(np.zeros((3, 2)))[0].sum() == 0
    truth = [0.2, 0.3, 0.2, 0.1, 0.1, 0.1]
    assert mod.hue_collapse(truth, truth) is None
    assert mod.hue_collapse([0.05, 0.05, 0.8, 0.05, 0.05, 0.0], truth) == "green"


def _fake_photos(root: Path, packages=("pkg_a", "pkg_b"), photos=4, crops=3, size=40) -> None:
    """Crops of generated photos (a lightness ramp with a colour per photo), split 2/1/1 by photo."""
    rng = np.random.default_rng(1)
    sides = {"train": [], "val": [], "test": []}
    for package in packages:
        for p in range(photos):
            hue = rng.uniform(0, 255, 3)
            for c in range(crops):
                ramp = np.linspace(0.3, 1.0, size)[:, None, None] * hue[None, None, :]
                img = np.clip(ramp + rng.normal(0, 8, (size, size, 3)), 0, 255).astype(np.uint8)
                path = root / package / f"photo{p}_s{c}_{c}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(path)
                sides[["train", "train", "val", "test"][p]].append(path)
    write_splits(root / "splits.json", sides, root)


def test_real_photos_tiny(tmp_path):
    data = tmp_path / "debian-photos"
    _fake_photos(data)
    result = _script().main(["--quick", "--image-size", "32", "--epochs", "1", "--verbose", "0", "--no-export",
                             "--data", str(data), "--runs", "polychromify,iizuka", "--out", str(tmp_path / "out")])
    report = json.loads(Path(result.json_path).read_text())
    assert report["splits"] == {"train": 12, "val": 6, "test": 6}  # the prepared split, by photo
    md = Path(result.markdown_path).read_text()
    assert f"| {lightness_prior.E_AB_GIVEN_L} |" in md and "ab L1 / E[ab|L]" in md
    assert f"| {lightness_prior.MEDIAN_AB_GIVEN_L} |" in md and "ab L1 / median(ab|L)" in md
    table = next(s for s in report["sections"] if s["title"].startswith("Every model against gray"))["data"]
    assert set(table["priors"]) == {"mean", "median"} and "beats_gray_psnr" in table and "grayer_than_gray" in table
    claims = next(s for s in report["sections"] if s["title"] == "The papers' claims on real photos")["data"]["rows"]
    verdicts = {row[0]: row[3] for row in claims}
    assert verdicts["L1 gives less of a sepia tint than MSE"] == "not run"
    assert verdicts["No green/red/blue collapse in Iizuka et al.'s model"] in ("yes", "no", "no difference")
    assert all(row[1] for row in claims)  # every row names its source
    assert (tmp_path / "out" / "figures" / "iizuka_hue_histogram.png").exists()


def test_real_photos_missing_data_says_how_to_prepare(tmp_path):
    with pytest.raises(SystemExit, match="datasets/prepare.py debian-photos"):
        _script().main(["--quick", "--data", str(tmp_path / "nothing")])


def _measures(rng, n=40, **means):
    """Synthetic per-image measures: each key's values around its given mean, with photo-to-photo noise."""
    return {key: mean + rng.normal(0, 1.0, n) for key, mean in means.items()}


@pytest.mark.parametrize("shift,verdict", [(3.0, "yes"), (-3.0, "no"), (0.1, "no difference")])
def test_claims_verdicts_on_synthetic_stats(shift, verdict):
    """A claimed difference well above its spread passes, one the other way fails, one within it is no difference."""
    mod = _script()
    rng = np.random.default_rng(0)
    base = rng.normal(20, 5, 40)  # per-photo values the two models share (paired)
    noise = lambda: rng.normal(0, 1.0, 40)  # noqa: E731
    per_image = {
        "eccv16_classification": {"colorfulness": base + shift + noise(), "chroma": base},
        "eccv16_regression": {"colorfulness": base + noise(), "chroma": base},
        "unet_mse": {"sepia": np.clip(0.5 + shift / 10 + noise() / 20, 0, 1)},
        "unet_l1": {"sepia": np.clip(0.5 + noise() / 20, 0, 1), "psnr": base + shift + noise()},
        "polychromify": {"psnr": base + noise()},
    }
    available = ["eccv16_classification", "eccv16_regression", "unet_mse", "unet_l1", "polychromify"]
    rows = {row[0]: row for row in mod.claim_rows(available, per_image)}
    assert rows["Rebalanced classification is more colourful than regression"][3] == verdict
    assert rows["L1 gives less of a sepia tint than MSE"][3] == verdict
    psnr = next(row for text, row in rows.items() if text.startswith("The suite's own comparison"))
    assert psnr[3] == verdict and psnr[1].startswith("none")  # no paper claims it
    assert rows["No green/red/blue collapse in Iizuka et al.'s model"][3] == "not run"
    assert "Zhang" in rows["Rebalanced classification is more colourful than regression"][1]
    assert "Menon & Talukdar 2021, Section 1" in rows["L1 gives less of a sepia tint than MSE"][1]


def test_sepia_share_measures_tint_not_saturation():
    from colorization_tf import claims

    hue = np.radians(70.0)  # orange-yellow
    faint = np.tile([[8 * np.cos(hue), 8 * np.sin(hue)]], (16, 1)).reshape(1, 4, 4, 2)
    vivid = faint * 6
    blue = np.tile([[0.0, -40.0]], (16, 1)).reshape(1, 4, 4, 2)
    mixed = np.concatenate([vivid[:, :2], blue[:, 2:]], axis=1)
    shares = claims.sepia_share(np.concatenate([faint, vivid, blue, mixed, np.zeros_like(faint)]))
    np.testing.assert_allclose(shares, [1.0, 1.0, 0.0, 0.5, 0.0])  # the same tint faint or vivid; gray has none
    assert claims.mean_chroma(vivid)[0] == pytest.approx(6 * claims.mean_chroma(faint)[0])


def test_collapse_margin_is_absolute_points_with_a_spread():
    from colorization_tf import claims

    rng = np.random.default_rng(1)
    truth = rng.normal(0, 30, (30, 8, 8, 2))  # hues all round
    green = np.tile([[-40.0, 10.0]], (64, 1)).reshape(1, 8, 8, 2).repeat(30, 0)  # hue ~166 degrees: "green"
    collapsed, sector = claims.collapse_margin(green, truth)
    assert (collapsed.verdict, sector) == ("no", "green")
    healthy, _ = claims.collapse_margin(truth + rng.normal(0, 2, truth.shape), truth)
    assert healthy.verdict == "yes"
    assert claims.hue_collapse([0.45, 0.2, 0.35, 0, 0, 0], [0.2, 0.2, 0.6, 0, 0, 0]) is None  # 25 points over: below 30
    assert claims.hue_collapse([0.55, 0.2, 0.25, 0, 0, 0], [0.2, 0.2, 0.6, 0, 0, 0]) == "red"  # 35 points (not 35%)
    assert claims.compare([1.0, 1.1, 0.9], [1.0, 1.0, 1.0]).verdict == "no difference"


@pytest.mark.parametrize("second_shift,verdict", [(3.0, "yes"), (0.0, "no difference"), (-3.0, "no difference")])
def test_a_claim_another_seed_does_not_repeat_is_no_difference(second_shift, verdict):
    """With a second seed's runs, a claim is reproduced only when both seeds' comparisons say so."""
    mod = _script()
    rng = np.random.default_rng(3)
    base = rng.normal(20, 5, 40)

    def pair(shift):
        return {"eccv16_classification": {"colorfulness": base + shift + rng.normal(0, 1, 40), "chroma": base},
                "eccv16_regression": {"colorfulness": base + rng.normal(0, 1, 40), "chroma": base}}

    per_image = {**pair(3.0), **{f"{k}_seed2": v for k, v in pair(second_shift).items()}}
    rows = {row[0]: row for row in mod.claim_rows(list(per_image), per_image)}
    row = rows["Rebalanced classification is more colourful than regression"]
    assert row[3] == verdict and "seed run 2:" in row[4]
    alone = {row[0]: row for row in mod.claim_rows(list(pair(3.0)), pair(3.0))}
    assert alone["Rebalanced classification is more colourful than regression"][3] == "yes"  # one seed: its own verdict
    assert "one seed only" in alone["Rebalanced classification is more colourful than regression"][4]


def test_full_run_trains_the_compared_models_with_a_second_seed(tmp_path):
    import argparse

    mod = _script()
    data = tmp_path / "debian-photos"
    data.mkdir()
    full = mod.make_config(argparse.Namespace(data=str(data), seed=7, quick=False))
    quick = mod.make_config(argparse.Namespace(data=str(data), seed=None, quick=True))
    seeded = {r.name: r.train.seed for r in full.runs if r.name.endswith("_seed2")}
    assert seeded == {f"{n}_seed2": 8 for n in ("polychromify", "unet_l1", "eccv16_regression", "eccv16_classification", "unet_mse")}
    assert not [r for r in quick.runs if "_seed" in r.name] and len(quick.runs) == len(full.runs) - 5
    def key(r):
        return r.name, r.model, r.label, r.train.seed, r.train.epochs, r.train.learning_rate, r.select_best

    assert [key(r) for r in full.runs if "_seed" not in r.name] == [key(r) for r in quick.runs]  # the first seed's runs unchanged
    from colorization_tf import claims

    assert claims.across_seeds([claims.compare([2.0, 3.0, 4.0], 0.0)]) == claims.YES
    with pytest.raises(ValueError, match="claims.py"):
        claims.across_seeds([])
