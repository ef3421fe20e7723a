"""The Protocol tables can fail (issue 19): every paper value is a transcribed literal with its source,
none is computed from a run's configuration, and changing a compared setting turns its row ✗."""

import pytest

from colorization_tf import experiment as ex
from colorization_tf.experiment.command import apply_args, build_parser
from colorization_tf.experiment.resolve import resolve_run
from colorization_tf.experiment.runner import resolve_splits
from colorization_tf import suite_facts
from colorization_tf.experiment.protocol import MATCH, MISMATCH, SETTINGS, Paper
from tests.test_protocol import LAYOUTS, _paper_layout, _protocol, _script

SCRIPTS = sorted(LAYOUTS)


def _by_run(rows, names) -> dict:
    """(setting key, run name) -> row."""
    out = {}
    for row in rows:
        for name in (names if row["runs"] == ["all"] else row["runs"]):
            out[(row["key"], name)] = row
    return out


def _names(name):
    return [r.name for r in _script(name).make_config(None).runs]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_paper_value_is_a_literal_with_its_source(name):
    cfg = _script(name).make_config(None)
    keys = {key for key, _ in SETTINGS}
    entries = [(k, v) for k, v in cfg.report.paper_protocol.items() if k != "split_protocol"]
    entries += [(k, v) for run in cfg.runs for k, v in run.paper_protocol.items()]
    assert entries
    for key, entry in entries:
        assert key in keys, key
        assert isinstance(entry, Paper) and entry.source.strip(), (name, key, entry)
    assert len({k for k, _ in entries} | {"dataset", "split"}) >= 15  # the "at least 15 settings"


def test_a_paper_value_without_a_source_is_refused():
    with pytest.raises(ValueError, match="protocol.py.*no source"):
        Paper(25, " ")


ALTERED = ["--image-size", "48", "--batch-size", "5", "--epochs", "7", "--augment", "--no-augment", "--deterministic",
           "--set", "runs.*.learning_rate=0.123", "--set", "runs.*.optimizer=rmsprop", "--set", "runs.*.loss=l1",
           "--set", "runs.*.loss_weights=none", "--set", "runs.*.select_best=val_loss", "--set", "runs.*.max_val=3",
           "--set", "runs.*.model_kwargs={}", "--set", "runs.*.optimizer_kwargs.weight_decay=0.5"]
"""Every run field the table compares, changed (the augment pair: whichever is not the paper's wins last)."""


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_paper_value_is_derived_from_a_run_configuration(name, tmp_path):
    root = _paper_layout(tmp_path / "data", name)
    names = _names(name)
    plain = _by_run(_protocol(name, root), names)
    altered = _by_run(_protocol(name, root, ALTERED), names)
    assert set(plain) <= set(altered)
    changed = 0
    for key in plain:
        assert (altered[key]["paper"], altered[key]["source"]) == (plain[key]["paper"], plain[key]["source"]), key
        changed += altered[key]["ours"] != plain[key]["ours"]
    assert changed >= 6 * len(names)  # the alterations reached the runs' side


CHANGES = [
    # (script, command line, setting, run)
    ("polychromify", ["--set", "runs.table1_v3.batch_size=8"], "batch_size", "table1_v3"),
    ("polychromify", ["--set", "runs.table1_v3.learning_rate=3e-4"], "learning_rate", "table1_v3"),
    ("polychromify", ["--set", "runs.table1_v3.loss=l1"], "loss", "table1_v3"),
    ("polychromify", ["--set", "runs.table1_v3.optimizer=sgd"], "optimizer", "table1_v3"),
    ("polychromify", ["--set", "runs.table1_v3.select_best=val_loss"], "selection", "table1_v3"),
    ("polychromify", ["--set", "runs.eccv16.model_kwargs={}"], "upsampling", "eccv16"),
    ("polychromify", ["--set", "runs.table1_v3.image_size=64"], "image_size", "table1_v3"),
    ("polychromify", ["--augment"], "augment", "table1_v3"),
    ("polychromify", ["--set", "epochs=3"], "epochs", "table1_v3"),
    ("lee2016_iizuka", ["--set", "runs.alpha_5.loss_weights={\"ab\": 1.0, \"scene\": 1.0}"], "loss", "alpha_5"),
    ("lee2016_iizuka", ["--set", "runs.*.optimizer=adam"], "optimizer", "alpha_1_300"),
    ("cs520", ["--set", "runs.cnn_beach.epochs=100"], "epochs", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.batch_size=4"], "batch_size", "cnn_beach"),
    ("ziegler2022", ["--set", "runs.eccv16_ce.loss=ce"], "loss", "eccv16_ce"),
    ("ziegler2022", ["--no-augment"], "augment", "eccv16_l1"),
    ("menon2021", ["--set", "runs.unet_l1_ssim.loss=l1"], "loss", "unet_l1_ssim"),
    ("cs520", ["--augment"], "augment", "cnn_beach"),
    ("cs520", ["--image-size", "48"], "image_size", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.learning_rate=0.01"], "learning_rate", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.loss=l1"], "loss", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.optimizer=adam"], "optimizer", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.model=eccv16_regression"], "upsampling", "cnn_beach"),
    ("cs520", ["--set", "runs.cnn_beach.model=eccv16_classification", "--set", "runs.cnn_beach.loss=ce"], "target", "cnn_beach"),
    ("lee2016_iizuka", ["--augment"], "augment", "alpha_5"),
    ("lee2016_iizuka", ["--epochs", "3"], "epochs", "alpha_5"),
    ("lee2016_iizuka", ["--image-size", "64"], "image_size", "alpha_5"),
    ("lee2016_iizuka", ["--set", "runs.alpha_5.select_best=val_loss", "--set", "hold_out_val=true"], "selection", "alpha_5"),
    ("polychromify", ["--set", "runs.table1_v3.model=eccv16_regression"], "init", "table1_v3"),
    ("polychromify", ["--set", "runs.table1_v3.model=eccv16_classification", "--set", "runs.table1_v3.loss=ce"], "target", "table1_v3"),
    ("ziegler2022", ["--epochs", "3"], "epochs", "eccv16_l1"),
    ("ziegler2022", ["--set", "runs.eccv16_l1.select_best=val_loss", "--set", "hold_out_val=true"], "selection", "eccv16_l1"),
    # the papers' own settings, the scripts' defaults (issue 19)
    ("lee2016_iizuka", ["--set", "runs.*.test_upsampling=none"], "upsampling", "alpha_5"),
    ("polychromify", ["--set", "resize_method=auto"], "resize", "table1_v3"),
    ("ziegler2022", ["--set", "hold_out_val=true"], "validation", "eccv16_l1"),
    ("cs520", ["--set", "hold_out_val=true"], "validation", "cnn_beach"),
]

RAN = {"policy": "float32", "jit_compile": False, "xla_note": "", "n_replicas": 1, "kind": "default", "devices": "CPU",
       "description": "CPU"}
"""What a run trained under (`RunResult.hardware`), as a test sets it."""

RAN_OTHERWISE = {"precision": {"policy": "mixed_bfloat16"}, "xla": {"jit_compile": True},
                 "strategy": {"n_replicas": 2, "kind": "mirrored", "devices": "2 GPU(s)"}}
"""For each setting read from what Keras ran, a change of it."""

FIXED = {"gray": "the suite has one gray input, the L of CIE Lab (colorization_tf.color); nothing selects another"}
"""Compared settings no option changes, with why."""


def _trained_rows(name, root, extra=(), ran=RAN):
    """The table's rows when every run trained under `ran`."""
    return _protocol(name, root, extra, ran=ran)


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_row_of_a_trained_table_has_its_source(name, tmp_path):
    rows = _trained_rows(name, _paper_layout(tmp_path / "data", name))
    assert all(row["source"].strip() for row in rows), [r for r in rows if not r["source"].strip()]
    assert len({row["key"] for row in rows}) >= 20  # 15 asked for; the precision, XLA and devices rows included


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_matching_setting_has_a_change_that_turns_it_red(name, tmp_path):
    """Every row that is ✓ by default is either changed by a `CHANGES` entry, a hardware change (`RAN_OTHERWISE`),
    or the split test below: none passes by construction, except the `FIXED` facts."""
    rows = _trained_rows(name, _paper_layout(tmp_path / "data", name))
    matching = {row["key"] for row in rows if row["mark"] == MATCH}
    changed = {key for script, _, key, _ in CHANGES if script == name} | set(RAN_OTHERWISE) | {"split"} | set(FIXED)
    assert matching and matching <= changed, matching - changed


ASKED = {"precision": ["--precision", "mixed_bfloat16"], "xla": ["--xla", "on"]}
"""The command line that asks for each `RAN_OTHERWISE` change (the devices have no option)."""


@pytest.mark.parametrize("key", sorted(RAN_OTHERWISE))
def test_what_keras_ran_turns_its_row_red(key, tmp_path):
    script = {"precision": "lee2016_iizuka", "xla": "lee2016_iizuka", "strategy": "polychromify"}[key]
    root = _paper_layout(tmp_path / "data", script)
    ran = {**RAN, **RAN_OTHERWISE[key]}
    before = [r for r in _trained_rows(script, root) if r["key"] == key]
    after = [r for r in _trained_rows(script, root, ran=ran) if r["key"] == key]
    assert [r["mark"] for r in before] == [MATCH]
    assert [r["mark"] for r in after] == [MISMATCH] and "what this machine ran" in after[0]["note"]
    assert (after[0]["paper"], after[0]["source"]) == (before[0]["paper"], before[0]["source"])
    if key in ASKED:  # asked for on the command line: the note says so instead
        asked = [r for r in _trained_rows(script, root, ASKED[key], ran=ran) if r["key"] == key]
        assert [r["mark"] for r in asked] == [MISMATCH] and f"`{ASKED[key][0]}` on the command line" in asked[0]["note"]
        assert "what this machine ran" not in asked[0]["note"]


def test_the_devices_row_compares_the_kind_of_device(tmp_path):
    """CS520 trained on one GTX 1070: one GPU matches, one CPU or two GPUs do not."""
    root = _paper_layout(tmp_path / "data", "cs520")

    def mark(**ran):
        return [r["mark"] for r in _trained_rows("cs520", root, ran={**RAN, **ran}) if r["key"] == "strategy"]

    assert mark(devices="1 GPU(s)") == [MATCH]
    assert mark(devices="CPU") == [MISMATCH]
    assert mark(devices="2 GPU(s)", n_replicas=2, kind="mirrored") == [MISMATCH]


@pytest.mark.parametrize("name", SCRIPTS)
def test_another_split_turns_the_split_row_red(name, tmp_path):
    from colorization_tf.data.splits import PREPARED_SPLITS_FILE

    root = _paper_layout(tmp_path / "data", name)
    other = "lee2016" if name != "lee2016_iizuka" else "polychromify"
    assert [r["mark"] for r in _protocol(name, root) if r["key"] == "split"] == [MATCH]
    (root / PREPARED_SPLITS_FILE).unlink(missing_ok=True)  # a prepared split is the paper's whatever --protocol says
    split = [r for r in _protocol(name, root, ["--protocol", other]) if r["key"] == "split"]
    assert [r["mark"] for r in split] == [MISMATCH] and "--protocol" in split[0]["note"]


@pytest.mark.parametrize("name,argv,key,run", CHANGES)
def test_changing_a_setting_turns_its_row_red(name, argv, key, run, tmp_path):
    root = _paper_layout(tmp_path / "data", name)
    names = _names(name)
    before = _by_run(_protocol(name, root), names)[(key, run)]
    after = _by_run(_protocol(name, root, argv), names)[(key, run)]
    assert before["mark"] == MATCH, before
    assert after["mark"] == MISMATCH and after["note"], after
    assert (after["paper"], after["source"]) == (before["paper"], before["source"])


def test_ziegler_bin_count_compares_with_his_reduced_buckets(tmp_path):
    root = _paper_layout(tmp_path / "data", "ziegler2022")
    names = _names("ziegler2022")
    zhang = _by_run(_protocol("ziegler2022", root), names)[("num_bins", "eccv16_ce")]
    wider = _by_run(_protocol("ziegler2022", root, ["--bin-width", "20"]), names)[("num_bins", "eccv16_ce")]
    assert (zhang["ours"], zhang["mark"]) == ("313", MISMATCH) and "bin" in zhang["note"]
    assert int(wider["ours"]) < 313 and wider["mark"] == MATCH
    assert ("num_bins", "eccv16_l1") not in _by_run(_protocol("ziegler2022", root), names)  # regression: no bins


def test_protocol_table_has_a_source_column(tmp_path):
    from colorization_tf.experiment.protocol import protocol_data, protocol_table

    root = _paper_layout(tmp_path / "data", "cs520")
    cfg = apply_args(_script("cs520").make_config(None), build_parser("x").parse_args(["--data", str(root)]))
    runs = [resolve_run(r, cfg) for r in cfg.runs]
    section = protocol_table(cfg, runs, protocol_data(cfg, str(root), resolve_splits(cfg, str(root))))
    assert "paper's source" in section.markdown and "Section 2.5 ('3 images as a batch')" in section.markdown
    assert all(row["source"] for row in section.data["rows"] if row["paper"] != "not stated")


@pytest.mark.parametrize("model,size", [("iizuka_lee128", 32), ("polychromify", 16), ("alexnet_regression", 32), ("cs520_cnn", 8)])
def test_suite_facts_describe_the_built_models(model, size):
    """The suite's side of the initialisation and upsampling rows is what the models do."""
    import collections

    import keras

    from colorization_tf.models import build_model

    net = build_model(model, image_size=size)
    kinds = collections.Counter(type(layer.kernel_initializer).__name__ for layer in net.layers
                                if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)))
    assert kinds.most_common(1)[0][0] == suite_facts.MODEL_INIT[suite_facts.model_family(model)][2], kinds
    upsampling = suite_facts.output_upsampling(model)
    ab = next((layer for layer in net.layers if layer.name == "ab"), None)
    if upsampling == suite_facts.NO_UPSAMPLING:
        assert ab is None or "Upsampl" not in type(ab).__name__
    else:
        assert type(ab).__name__ == "BilinearUpsample" and upsampling.startswith("bilinear")


def test_lee_loss_row_fails_when_the_suite_loss_changes(monkeypatch, tmp_path):
    """The loss row used to be `describe_loss` of the run's own losses: ✓ whatever they computed."""
    import keras

    mod = _script("lee2016_iizuka")
    root = _paper_layout(tmp_path / "data", "lee2016_iizuka")
    names = _names("lee2016_iizuka")
    plain = _by_run(_protocol("lee2016_iizuka", root), names)
    monkeypatch.setattr(mod, "iizuka_losses", lambda alpha, **kw: ({"ab": keras.losses.MeanAbsoluteError(),
                                                                    "scene": "sparse_categorical_crossentropy"},
                                                                   {"ab": 1.0, "scene": alpha}))
    cfg = apply_args(mod.make_config(None), build_parser("x").parse_args(["--data", str(root)]))
    from colorization_tf.experiment.protocol import protocol_data, protocol_rows

    runs = [resolve_run(r, cfg) for r in cfg.runs]
    rows = _by_run(protocol_rows(cfg, runs, protocol_data(cfg, str(root), resolve_splits(cfg, str(root)))), names)
    for run in names:
        assert plain[("loss", run)]["mark"] == MATCH
        assert rows[("loss", run)]["mark"] == MISMATCH
        assert rows[("loss", run)]["paper"] == plain[("loss", run)]["paper"]


def test_ziegler_precision_is_his_automatic_mixed_precision(tmp_path):
    """Ziegler trained under CUDA AMP (Section 3.5): float16 on a GPU matches, float32 on a CPU does not."""
    root = _paper_layout(tmp_path / "data", "ziegler2022")
    on_gpu = [r for r in _trained_rows("ziegler2022", root, ran={**RAN, "policy": "mixed_float16"}) if r["key"] == "precision"]
    on_cpu = [r for r in _trained_rows("ziegler2022", root) if r["key"] == "precision"]
    assert [r["mark"] for r in on_gpu] == [MATCH] and "Section 3.5" in on_gpu[0]["source"]
    assert [r["mark"] for r in on_cpu] == [MISMATCH]
