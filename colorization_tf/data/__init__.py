"""Image discovery and filtering, deterministic splits, tf.data pipelines and the synthetic scenes.

Modules:
    limits      the bounds every reader takes: `MAX_PIXELS`, `PIL_FORMATS`, `IMAGE_EXTENSIONS`
    files       `find_images` (flat or class folders), `scan_images` (unusable-image report with
                bounded decoding, both cores), `load_image_rgb` (safe 8-bit RGB reader, `ImageError`)
    splits      `split_files(paths, protocol, seed)`: per-paper protocols, stable when files are added
    decode      image bytes -> uint8 RGB: header check before any pixel (`image_header_shape`),
                bounded decoding (`decode_image_bounded`), fixed-size resize (`decode_and_resize`)
    augment     random crops and flips of batches (`augment_batch`, `random_windows`)
    elements    `Targets(ab, extras)` and `split_element`: the one unpacking of a dataset's targets
                (plain Python, any Keras backend)
    targets     the targets' encoding (`to_model_targets`); re-exports `Targets`
    pipeline    `build_dataset(paths, PipelineConfig(...))`: files -> batches of (encoded L,
                encoded ab [+ scene label])
    decodable   the pipeline's decoder as a file check, the files known to decode (known dataset
                lengths), and the named report of files the pipeline drops
    synthetic   the embedded default: deterministic landscape-like scenes in 7 classes
    photos      real colour photos bundled with scikit-image / matplotlib (offline)

Typical use:

    from colorization_tf.data import files, splits, pipeline, synthetic
    found = files.find_images(synthetic.default_dataset())
    report = files.scan_images(found.paths)
    split = splits.split_files(report.usable, "polychromify", seed=42)
    train = pipeline.build_dataset(split["train"], image_size=128, batch_size=32,
                                   normalization="polychromify", training=True, cache="memory")
"""
