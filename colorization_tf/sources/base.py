"""What a data source is: a `Source` (prepare into a folder, its split protocol, its licence), and
`SourceError`, what a source that cannot be prepared on this machine raises.

A source obtains images and lays them out in a folder that the pipeline (`colorization_tf.data`)
reads: class folders of image files, usually with the split (`splits.json`) and a completion
marker (`prepare.json`). The entries, one per source, are in `sources.registry`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from colorization_tf.data.splits import SplitProtocol


class SourceError(Exception):
    """A source cannot be prepared here: a tool or package is missing, or it holds no images. The
    message says what to do instead (the command line prints it as one line, exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One data source.

    Attributes:
        name: the registry key and the `datasets/prepare.py` subcommand.
        description: one line: what the images are.
        split_protocol: the split its prepared folder ships (`splits.json`), or None when it ships
            none (each experiment then splits the folder by its paper's protocol).
        licence: under which terms the images come, in words (per image where they differ).
        url: where the data or its licence is described ("" for what this package generates).
        build: `build(out, **options)` writes the folder `out`; what it returns is the source's
            (the split for downloaded folders, the summary for debian-photos, the folder or the
            written paths for the offline ones).
        options: the keyword options of `build` the command line may pass (besides `src`).
        needs_src: `build` takes `src=`, the downloaded folder to prepare.
    """

    name: str
    description: str
    split_protocol: SplitProtocol | None
    licence: str
    url: str
    build: Callable[..., Any]
    options: tuple[str, ...] = ()
    needs_src: bool = False

    def prepare(self, out, **options) -> Any:
        """Writes the source's folder `out` (creating it); running it again completes or keeps it.

        Args:
            out: the folder to write (e.g. `data/<name>`).
            **options: keyword options of `build` (`src=` for a downloaded source).

        Returns:
            What `build` returns.

        Raises:
            SourceError: the source cannot be prepared on this machine.
            SystemExit: a downloaded source's `src` is not a folder or holds no image.
            OSError: `out` cannot be written (disk full, read-only).
        """
        if self.needs_src and options.get("src") is None:
            raise ValueError(f"source {self.name}: `src` (the downloaded folder) is required")
        return self.build(Path(out), **options)


__all__ = ["Source", "SourceError"]
