"""One script per paper (thin: a configuration plus `colorization_tf.experiment.main`) and compare_all."""
