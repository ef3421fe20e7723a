#!/usr/bin/env python
"""Prepares a data source for colorization-tf: the command line over `colorization_tf.sources`.

    python datasets/prepare.py landscapes --src ~/Downloads/landscape-pictures --out data/landscapes
    python datasets/prepare.py places     --src ~/Downloads/miniplaces/images   --out data/places
    python datasets/prepare.py div2k      --src ~/Downloads/DIV2K               --out data/div2k
    python datasets/prepare.py cs520      --src ~/cs520_scenes                  --out data/cs520
    python datasets/prepare.py folder     --src ANY_FOLDER --out data/mine --protocol ziegler
    python datasets/prepare.py debian-photos --out data/debian-photos   (no --src: Debian packages;
                                                  see colorization_tf/sources/debian_photos.py)
    python datasets/prepare.py synthetic      --out data/synthetic       (the embedded scenes)
    python datasets/prepare.py bundled-photos --out data/bundled-photos  (scikit-image's photos)

Each subcommand is a source of `colorization_tf.sources.registry.SOURCES`. A downloaded folder
(`--src`) is scanned, its unusable images left out (`OUT/unusable.tsv`), the others laid out in
`OUT/<class>/` (re-encoded as PNG where TensorFlow's decoder refuses them; `--max-side N`: as JPEGs
of at most N px), split by its paper's protocol (`OUT/splits.json`) and marked complete
(`OUT/prepare.json`, written last): see `colorization_tf/sources/folders.py`. Every file is written
atomically, so a killed run leaves whole images and running it again finishes the job. A full
disk or read-only output gives one error line (exit status 1); a source that cannot be prepared
on this machine (no apt-get for debian-photos) one line saying what to do (exit status 2).

Reference:
    Ziegler (2022) section 2.2 (filtering splitter); the datasets of PolyChromify (2021),
    Lee et al. (Iizuka replication), Menon & Talukdar (2021) and CS520 (see datasets/README.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

from colorization_tf import console  # noqa: E402
from colorization_tf.data import files, splits  # noqa: E402
from colorization_tf.sources import registry  # noqa: E402
from colorization_tf.sources.base import SourceError  # noqa: E402


def prepare(name: str, src, out, **options):
    """Prepares the source `name` into `out` (`registry.get_source(name).prepare`).

    Args:
        name: a key of `registry.SOURCES`.
        src: the downloaded folder, for the sources that need one (ignored by the others).
        out: the folder to write.
        **options: the source's keyword options (e.g. protocol, seed, max_side, progress).

    Returns:
        What the source returns: the split ("train", "val", "test" -> paths) of a downloaded folder.
    """
    source = registry.get_source(name)
    if source.needs_src:
        options["src"] = src
    return source.prepare(out, **options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Prepare a dataset for colorization-tf (see datasets/README.md).")
    parser.add_argument("dataset", choices=sorted(registry.SOURCES), help="which data source to prepare")
    parser.add_argument("--src", help="the downloaded/unpacked dataset folder (only for the downloaded sources)")
    parser.add_argument("--cache", help="debian-photos only: where .debs and unpacked files are kept "
                        "(default OUT/.cache)")
    parser.add_argument("--out", "--output", "-o", dest="out", required=True,
                        help="where the prepared images go (e.g. data/landscapes)")
    parser.add_argument("--protocol", choices=sorted(splits.PROTOCOLS), help="split protocol (default: the paper's)")
    parser.add_argument("--seed", type=int, help="split seed (default 42 = PolyChromify's random_state; "
                        "synthetic: the scenes' seed, default 0)")
    parser.add_argument("--max-side", type=int, help="re-encode as JPEG with the longer side at most this")
    parser.add_argument("--min-size", type=int, default=files.DEFAULT_MIN_SIZE)
    parser.add_argument("--gray-threshold", type=float, default=files.DEFAULT_GRAY_THRESHOLD)
    parser.add_argument("--workers", type=int, default=2)
    console.add_verbose_argument(parser)
    args = parser.parse_args(argv)
    source = registry.get_source(args.dataset)
    if source.needs_src and not args.src:
        parser.error(f"--src is required for {args.dataset}")
    given = {"cache": args.cache, "protocol": args.protocol, "seed": args.seed, "max_side": args.max_side,
             "min_size": args.min_size, "gray_threshold": args.gray_threshold, "workers": args.workers}
    options = {key: value for key, value in given.items() if key in source.options and value is not None}
    try:
        prepare(args.dataset, args.src, args.out, **options)
    except SourceError as err:  # no apt-get, a package unavailable: one line saying what to do
        print(f"prepare.py {args.dataset}: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, read-only or missing output folder: one line, no traceback
        where = err.filename or args.out
        print(f"prepare.py: error: cannot write {where}: {err.strerror or err} "
              f"(nothing partial is left; run again to finish)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
