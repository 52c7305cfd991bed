"""The online update on the grammar of conftest, where normal and abnormal are known.

Two kinds of false positive: a new normal behaviour with a key the model never saw
(G before the final E), and a known key in a place the model never saw it (F F). Both
keep the grammar's branching at two, so g=2 can accept them. After labelling a
few of each, held-out sessions of the same kind pass, and every injected anomaly of the
grammar is still found.
"""

import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ANOMALIES, GRAMMAR_CONFIG, grammar_session, grammar_sessions
from deeplog_core import Session, detect, load_model, save_model, score_sessions, train
from deeplog_core.config import ModelConfig, TrainConfig, UpdateConfig
from deeplog_core.errors import ConfigError
from deeplog_core.labels import CONFIRMED, FALSE_POSITIVE, LabelStore
from deeplog_core.store import Store
from deeplog_core.update import update_model


def with_g(n, seed):
    """Normal sessions of a new regime: a G between D and E."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = grammar_session(rng, f"g{seed}-{i}")
        out.append(Session(s.id, [*s.keys[:-1], "G", "E"], 0))
    return out


def g_at(i: int) -> int:
    """Where the G is in session g1-i."""
    return with_g(i + 1, 1)[i].keys.index("G")


def double_f(n, seed):
    rng = random.Random(seed)
    return [Session(f"f{seed}-{i}", ["A", "F", "F", *grammar_session(rng, "x").keys[1:]], 0) for i in range(n)]


def label_flagged(model, sessions, labels, dataset="dev"):
    scores = score_sessions(model, sessions)
    for i in scores.session_anomalous().nonzero()[0]:
        v = scores.verdict(int(i))
        for e in v.events:
            if e.anomalous:
                labels.add(dataset, v.session_id, FALSE_POSITIVE, position=e.position, key=e.key)


@pytest.fixture
def labels(tmp_path):
    return LabelStore(Store(tmp_path / "s.db"))


def anomalies_found(model):
    return [detect(model, [s], num_candidates=g)[0].events[pos].anomalous for s, pos, _, g in ANOMALIES]


def test_false_positives_of_a_new_key_and_a_new_place_are_learnt_without_forgetting(grammar_model, labels):
    # enough labelled sessions to cover each history the new behaviour follows (an
    # update learns (history -> key) windows: a history no label showed may still flag)
    labelled = with_g(20, 1) + double_f(12, 2)
    assert {tuple(s.keys[:s.keys.index("G")][-6:]) for s in with_g(40, 3)} <= \
        {tuple(s.keys[:s.keys.index("G")][-6:]) for s in labelled if "G" in s.keys}
    assert score_sessions(grammar_model, labelled).session_anomalous().all()
    label_flagged(grammar_model, labelled, labels)
    before = [p.detach().clone() for p in grammar_model.net.parameters()]
    updated, report = update_model(grammar_model, labels.effective(), labelled, grammar_sessions(400),
                                   UpdateConfig())
    assert report.new_keys == ["G"] and report.fp_flagged_before > 0 and report.fp_flagged_after == 0
    assert report.epochs >= 1 and report.seconds < 30
    held_out = with_g(40, 3) + double_f(40, 4)
    assert not score_sessions(updated, held_out).session_anomalous().any()
    assert not score_sessions(updated, grammar_sessions(200, seed=99)).session_anomalous().any()
    assert all(anomalies_found(updated))
    # the parent model is untouched, and the new one records where it came from
    assert all(torch.equal(a, b) for a, b in zip(before, grammar_model.net.parameters()))
    assert "G" not in grammar_model.vocab and "G" in updated.vocab
    assert updated.data["parent_fingerprint"] == grammar_model.data["fingerprint"]
    assert updated.metrics["update"]["labels"] == len(labels.effective())


def test_a_confirmed_anomaly_stays_flagged(grammar_model, labels):
    labelled = double_f(6, 2)
    label_flagged(grammar_model, labelled, labels)
    swap = ANOMALIES[0][0]
    labels.add("dev", swap.id, CONFIRMED)
    updated, report = update_model(grammar_model, labels.effective(), labelled + [swap],
                                   grammar_sessions(400), UpdateConfig())
    assert report.confirmed_windows >= 1 and report.confirmed_flagged_after == report.confirmed_windows
    assert detect(updated, [swap], num_candidates=2)[0].anomalous


def test_an_updated_model_with_a_new_key_saves_and_loads(grammar_model, labels, tmp_path):
    labelled = with_g(4, 5)
    label_flagged(grammar_model, labelled, labels)
    updated, _ = update_model(grammar_model, labels.effective(), labelled, grammar_sessions(400))
    loaded = load_model(save_model(updated, tmp_path / "m"), device="cpu")
    a = score_sessions(updated, with_g(10, 6))
    b = score_sessions(loaded, with_g(10, 6))
    assert (a.rank == b.rank).all() and loaded.vocab.keys[-1] == "G"


def test_what_cannot_be_learnt_is_said(grammar_model, labels):
    with pytest.raises(ConfigError, match="no labels"):
        update_model(grammar_model, [], [], grammar_sessions(10))
    labels.add("dev", "missing-session", FALSE_POSITIVE, position=1)
    labels.add("dev", "s1", CONFIRMED, position=1)
    with pytest.raises(ConfigError, match="none of the labels is a false positive"):
        update_model(grammar_model, labels.effective(), grammar_sessions(3), grammar_sessions(10))
    labels.add("dev", "g1-0", FALSE_POSITIVE, position=1)
    with pytest.raises(ConfigError, match="replays"):
        update_model(grammar_model, labels.effective(), with_g(1, 1), [])
    # a label on a session the data lacks is skipped, and says so
    _, report = update_model(grammar_model, labels.effective(), with_g(1, 1) + grammar_sessions(3),
                             grammar_sessions(400))
    assert any("missing-session" in why for _, why in report.skipped)


def test_a_scalar_model_refuses_new_keys_with_a_reason(labels):
    model = train(grammar_sessions(100), ModelConfig(window_size=4, hidden_size=8, num_layers=1,
                                                    num_candidates=2, input_mode="scalar"),
                  TrainConfig(epochs=2, seed=1), progress=False)
    labels.add("dev", "g1-0", FALSE_POSITIVE, position=g_at(0))
    with pytest.raises(ConfigError, match="scalar-input model cannot learn new keys"):
        update_model(model, labels.effective(), with_g(1, 1), grammar_sessions(10))


# -- the CLI: train -> label -> update -> models list / rollback / activate ------------

def write_csv(path, sessions):
    with open(path, "w") as fh:
        fh.write("BlockId,Label,EventSequence\n")
        for s in sessions:
            fh.write(f"{s.id},{'Anomaly' if s.label else 'Normal'},{' '.join(s.keys)}\n")
    return path


def deeplog(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "deeplog_core.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


GRAMMAR_FLAGS = ["--window-size", GRAMMAR_CONFIG.window_size, "--hidden-size", 32, "--num-candidates", 2,
                 "--epochs", 80, "--batch-size", 64, "--lr", 5e-3, "--seed", 7, "--patience", 10, "--quiet"]


@pytest.fixture(scope="module")
def cli_workspace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feedback")
    train_csv = write_csv(tmp / "train.csv", grammar_sessions(400))
    dev_csv = write_csv(tmp / "dev.csv", with_g(8, 1) + grammar_sessions(20, seed=3))
    db = tmp / "state.db"
    deeplog("train", "--train", train_csv, "--model-dir", tmp / "m1", "--register", "grammar",
            "--db", db, *GRAMMAR_FLAGS)
    return tmp, train_csv, dev_csv, db


def test_cli_label_update_and_registry(cli_workspace):
    import json
    tmp, train_csv, dev_csv, db = cli_workspace
    for i in range(4):
        deeplog("label", "add", "--data", dev_csv, "--session", f"g1-{i}", "--position", g_at(i), "--key", "G",
                "--verdict", "false_positive", "--model-version", "grammar-v1", "--db", db)
    listed = deeplog("label", "list", "--data", dev_csv, "--json", "--db", db).stdout.splitlines()
    assert len(listed) == 4 and json.loads(listed[0])["model_version"] == "grammar-v1"
    v1_path = json.loads(deeplog("models", "list", "--json", "--db", db).stdout)["path"]
    out = json.loads(deeplog("update", "--model-dir", v1_path, "--data", dev_csv, "--db", db,
                             "--quiet").stdout)
    assert out["version"] == "grammar-v2" and out["new_keys"] == ["G"] and out["fp_flagged_after"] == 0
    versions = [json.loads(l) for l in deeplog("models", "list", "--json", "--db", db).stdout.splitlines()]
    assert [(v["version"], v["parent"], v["active"], v["kind"]) for v in versions] == [
        ("grammar-v1", None, False, "train"), ("grammar-v2", "grammar-v1", True, "update")]
    assert versions[1]["metrics"]["update"]["labels"] == 4
    assert json.loads(deeplog("models", "rollback", "grammar", "--db", db).stdout)["version"] == "grammar-v1"
    assert json.loads(deeplog("models", "activate", "grammar-v2", "--db", db).stdout)["active"]
    bad = deeplog("models", "rollback", "nope", "--db", db, check=False)
    assert bad.returncode == 2 and "no active version" in bad.stderr
    # labels survive the update, and know who used them
    assert len(deeplog("label", "list", "--data", dev_csv, "--all", "--json", "--db", db).stdout.splitlines()) == 4


def test_an_update_killed_midway_loses_no_label_and_leaves_no_half_version(cli_workspace):
    import json
    tmp, train_csv, dev_csv, db = cli_workspace
    deeplog("label", "add", "--data", dev_csv, "--session", "g1-5", "--position", g_at(5),
            "--verdict", "false_positive", "--db", db)
    before = deeplog("label", "list", "--data", dev_csv, "--all", "--json", "--db", db).stdout
    versions_before = deeplog("models", "list", "--json", "--db", db).stdout.splitlines()
    v1_path = json.loads(versions_before[0])["path"]
    proc = subprocess.Popen([sys.executable, "-m", "deeplog_core.cli", "update", "--model-dir", v1_path,
                             "--data", str(dev_csv), "--db", str(db), "--max-epochs", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert deeplog("label", "list", "--data", dev_csv, "--all", "--json", "--db", db).stdout == before
    after = [json.loads(l) for l in deeplog("models", "list", "--json", "--db", db).stdout.splitlines()]
    assert len(after) in (len(versions_before), len(versions_before) + 1)
    for v in after:                       # every registered version is complete
        load_model(v["path"], device="cpu")
    assert not list((db.parent / "models").glob("*/.staging-*")) or proc.returncode != 0


def test_update_without_registry_or_out_says_what_to_do(cli_workspace, tmp_path):
    tmp, train_csv, dev_csv, db = cli_workspace
    deeplog("train", "--train", train_csv, "--model-dir", tmp_path / "loose", *GRAMMAR_FLAGS[:-3], "--epochs", 2, "--quiet")
    r = deeplog("update", "--model-dir", tmp_path / "loose", "--data", dev_csv, "--db", db, check=False)
    assert r.returncode == 2 and "not in the model registry" in r.stderr
    r = deeplog("update", "--model-dir", tmp_path / "loose", "--data", dev_csv, "--db", db,
                "--out", tmp_path / "new", "--quiet")
    assert (tmp_path / "new" / "config.json").is_file()


def test_an_update_runs_as_a_background_job_and_registers_its_version(cli_workspace):
    from deeplog_core.jobs import JobRunner
    from deeplog_core.registry import ModelRegistry

    tmp, train_csv, dev_csv, db = cli_workspace
    store = Store(db)
    registry = ModelRegistry(store, db.parent / "models")
    runner = JobRunner(store, db.parent / "jobs")
    bad = runner.get(runner.start_update(str(tmp / "nowhere"), str(dev_csv)))
    assert bad["status"] == "failed" and "not a registered model version" in bad["error"]
    LabelStore(store).add(str(dev_csv.resolve()), "g1-6", FALSE_POSITIVE, position=g_at(6))
    parent = registry.list("grammar")[0]
    job_id = runner.start_update(parent.path, str(dev_csv))
    deadline = time.time() + 120
    while runner.get(job_id)["status"] == "running" and time.time() < deadline:
        time.sleep(0.3)
    job = runner.get(job_id)
    assert job["status"] == "succeeded", job["error"]
    assert job["kind"] == "update" and runner.progress(job_id)[-1]["fp_flagged"] == 0
    new = registry.get(job["model_version"])
    assert new.parent == parent.version and new.active and new.path == job["model_dir"]
    assert job["metrics"]["update"]["fp_flagged_after"] == 0
