"""Image discovery and filtering, deterministic splits, tf.data pipelines and the synthetic scenes."""
