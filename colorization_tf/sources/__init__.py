"""Data sources: what obtains images and lays them out in a folder the pipeline (`data`) reads.

Modules:
    base             `Source` (name, `prepare(out, ...)`, split protocol, licence) and `SourceError`
    registry         `SOURCES` and `get_source(name)`: one entry per source (synthetic,
                     bundled-photos, debian-photos, landscapes, places, div2k, cs520, folder)
    folders          downloaded folders laid out for the pipeline: scan, filter, re-encode what
                     TensorFlow refuses, split by the paper's protocol (`prepare_folder`)
    synthetic        the embedded default: deterministic landscape-like scenes in 7 classes
    bundled_photos   real colour photos installed with scikit-image / matplotlib (offline)
    debian_photos    real photographs from Debian packages: selected by a stated rule, cropped,
                     split by photo; the packages examined and left out (`EXAMINED_WITHOUT_PHOTOS`)
    debian_packages  `apt-get download`, `dpkg-deb -x` (cached) and the packages' per-file licences
    qt_resources     reads Qt `.rcc` resource bundles (GCompris ships its pictures in them)
    whole_photos     the whole photographs of a debian-photos split, as `colorize` is handed them

Typical use:

    from colorization_tf.sources import registry, synthetic
    folder = synthetic.default_dataset()                 # generated on first use
    registry.get_source("folder").prepare("data/mine", src="~/photos")  # as datasets/prepare.py does
"""
