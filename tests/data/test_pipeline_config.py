"""One `PipelineConfig` per dataset, crop modes as `Crop` values, targets as one `Targets` type, one epoch seed."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization_tf import evaluation
from colorization_tf.data import pipeline, targets
from colorization_tf.data.augment import DEFAULT_CROP_SCALE, Crop
from colorization_tf.sources.synthetic import render_scene
from colorization_tf.quantize import priors

SIZE = 16


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("config_scenes")
    out = []
    for i, cls in enumerate(("beach", "forest", "beach", "forest", "beach")):
        path = root / f"{i}.png"
        Image.fromarray(render_scene(cls, i, (24, 30))).save(path)
        out.append(str(path))
    return out


def _arrays(dataset):
    return [tf.nest.map_structure(lambda t: t.numpy(), element) for element in dataset]


def test_a_config_and_its_fields_as_keywords_build_the_same_dataset(paths):
    config = pipeline.PipelineConfig(image_size=SIZE, batch_size=2, normalization="lee2016", training=True, seed=4)
    labels = [0, 1, 0, 1, 0]
    from_config = _arrays(pipeline.build_dataset(paths, config, labels=labels))
    from_keywords = _arrays(pipeline.build_dataset(paths, image_size=SIZE, batch_size=2, normalization="lee2016",
                                                   training=True, seed=4, labels=labels))
    assert len(from_config) == 2  # training drops the partial batch
    for (l_a, t_a), (l_b, t_b) in zip(from_config, from_keywords):
        np.testing.assert_array_equal(l_a, l_b)
        assert set(t_a) == {"ab", "scene"}  # the element structure Keras `fit` sees
        np.testing.assert_array_equal(t_a["ab"], t_b["ab"])
        np.testing.assert_array_equal(t_a["scene"], t_b["scene"])
    # a keyword replaces the config's field
    evaluation_batches = _arrays(pipeline.build_dataset(paths, config, training=False))
    assert [len(l) for l, _ in evaluation_batches] == [2, 2, 1]


def test_config_errors_name_the_caller_and_the_setting(paths):
    with pytest.raises(TypeError, match=r"build_dataset: unknown setting\(s\) \['crop'\]"):
        pipeline.build_dataset(paths, image_size=SIZE, batch_size=2, normalization="zhang", crop=Crop.NONE)
    with pytest.raises(TypeError, match=r"build_epoch_datasets: missing setting\(s\) \['normalization'\]"):
        pipeline.build_epoch_datasets(paths, image_size=SIZE, batch_size=2)
    with pytest.raises(ValueError, match="build_dataset: batch_size must be >= 1, got 0"):
        pipeline.build_dataset(paths, image_size=SIZE, batch_size=0, normalization="zhang")
    with pytest.raises(TypeError, match="build_image_dataset: unknown setting"):
        pipeline.build_image_dataset(paths, SIZE, batch_size=3)
    config = pipeline.PipelineConfig(image_size=SIZE, batch_size=2, normalization="zhang")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 3


def test_crop_modes_are_named_values():
    base = pipeline.PipelineConfig(image_size=(16, 20), batch_size=2, normalization="zhang")
    assert base.crop is Crop.NONE and base.stored_size == (16, 20)
    training = dataclasses.replace(base, training=True)
    assert training.crop is Crop.WINDOW and training.stored_size == (18, 23)  # 1/0.875 larger
    assert dataclasses.replace(training, augment=False).crop is Crop.NONE
    assert dataclasses.replace(training, crop_scale=None).crop is Crop.WINDOW  # flips only: windows of the whole
    assert dataclasses.replace(training, crop_scale=None).stored_size == (16, 20)
    jitter = dataclasses.replace(training, crop_scale=(0.8, 1.0))
    assert jitter.crop is Crop.SCALE and jitter.stored_size == (16, 20)
    assert Crop.of(True, DEFAULT_CROP_SCALE) is Crop.WINDOW and Crop.of(False, (0.5, 1.0)) is Crop.NONE
    with pytest.raises(ValueError, match="crop_scale must lie in"):
        _ = dataclasses.replace(training, crop_scale=(1.5, 1.5)).stored_size


def test_targets_unpack_both_element_forms_in_one_place():
    ab, scene = tf.fill([2, 4, 4, 2], 0.25), tf.constant([3, 1])
    plain = targets.Targets.of(ab)
    assert plain.ab is ab and dict(plain.extras) == {} and plain.scene is None and plain.keras() is ab
    labelled = targets.Targets.of({"ab": ab, "scene": scene})
    assert labelled.ab is ab and labelled.scene is scene and set(labelled.keras()) == {"ab", "scene"}
    l_enc = tf.zeros([2, 4, 4, 1])
    for element in ((l_enc, ab), (l_enc, {"ab": ab, "scene": scene})):
        l_out, target = targets.split_element(element)
        assert l_out is l_enc and target.ab is ab
        # the consumers read the same ab from both forms
        assert evaluation._split_batch(element)[1] is ab
        np.testing.assert_allclose(priors._ab_from_element(element, 2.0, 1.0), 1.5)
    assert evaluation._split_batch((l_enc, {"ab": ab, "scene": scene}))[2] is scene
    with pytest.raises(KeyError):
        targets.Targets.of({"scene": scene})  # no colour target: not silently the labels


def test_epoch_seed_is_one_formula_for_ints_and_tensors():
    assert pipeline.epoch_seed(7, 0) == 7 * pipeline.EPOCH_SEED_STRIDE + 1
    assert int(pipeline.epoch_seed(7, tf.constant(3, tf.int64))) == pipeline.epoch_seed(7, 3)
    assert pipeline.epoch_seed(0, 1) != pipeline.epoch_seed(1, 0)
    # training.reshuffle_per_epoch orders epoch k with the same seed, for int and tensor epochs
    from colorization_tf import training

    base = tf.data.Dataset.range(20)
    per_epoch = training.reshuffle_per_epoch(base, buffer_size=20, seed=5)
    expected = list(base.shuffle(20, seed=pipeline.epoch_seed(5, 2), reshuffle_each_iteration=False).as_numpy_iterator())
    assert list(per_epoch(2).as_numpy_iterator()) == expected
    assert list(per_epoch(tf.constant(2, tf.int64)).as_numpy_iterator()) == expected
    assert list(per_epoch(3).as_numpy_iterator()) != expected
