"""The package's version, apart from its facade so that modules inside it can read it (setup.cfg states it too)."""

__version__ = "0.1.0"
