"""Files -> batches: image discovery and filtering, splits, decoding, the tf.data pipelines.

What obtains the images (the synthetic scenes, bundled and Debian photos, downloaded datasets laid
out by `datasets/prepare.py`) is `colorization_tf.sources`; this package reads their folders.

Modules:
    limits             the bounds every reader takes: `MAX_PIXELS`, `PIL_FORMATS`, `IMAGE_EXTENSIONS`
    files              `find_images` (flat or class folders), `scan_images` (unusable-image report
                       with bounded decoding, both cores), `load_image_rgb` (safe 8-bit RGB reader,
                       `ImageError`)
    decode             image bytes -> uint8 RGB: header check before any pixel (`image_header_shape`),
                       bounded decoding (`decode_image_bounded`), fixed-size resize (`decode_and_resize`)
    decodable          the pipeline's decoder as a file check, the files known to decode (known
                       dataset lengths), and the named report of files the pipeline drops
    splits             `split_files(paths, protocol, seed)`: per-paper protocols, stable when files
                       are added; `splits.json` written and read (`write_splits`, `read_splits`)
    experiment_splits  `resolve_splits(root, protocol, seed)`: an experiment's split of a folder
                       (prepared or by hash, subsets, validation held out of train)
    augment            random crops and flips of batches (`augment_batch`, `random_windows`)
    elements           `Targets(ab, extras)` and `split_element`: the one unpacking of a dataset's
                       targets (plain Python, any Keras backend)
    targets            the targets' encoding (`to_model_targets`); re-exports `Targets`
    pipeline           `build_dataset(paths, PipelineConfig(...))`: files -> batches of (encoded L,
                       encoded ab [+ scene label])
    service            preprocessing on a tf.data service (`distribute`, `LocalService`)

Typical use:

    from colorization_tf.data import files, splits, pipeline
    from colorization_tf.sources import synthetic
    found = files.find_images(synthetic.default_dataset())
    report = files.scan_images(found.paths)
    split = splits.split_files(report.usable, "polychromify", seed=42)
    train = pipeline.build_dataset(split["train"], image_size=128, batch_size=32,
                                   normalization="polychromify", training=True, cache="memory")
"""
