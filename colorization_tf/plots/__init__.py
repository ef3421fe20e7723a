"""Every figure the suite draws (matplotlib, Agg backend: figures are written to files)."""

import matplotlib

matplotlib.use("Agg")
