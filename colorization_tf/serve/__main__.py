"""`python -m colorization_tf.serve`: the same as the `colorize-serve` command."""

import sys

from colorization_tf.serve.cli import main

sys.exit(main())
