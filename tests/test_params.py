"""The parameter-value model (DeepLog §3.2): detection on a synthetic log with known
value anomalies, what is and is not modelled, the model files, and errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from deeplog_core.config import ParamConfig
from deeplog_core.errors import ConfigError, DataFormatError, DeepLogError, ModelFileError
from deeplog_core.grouping import GroupedLog
from deeplog_core.params import (
    ELAPSED, PARAM_CONFIG_FILE, PARAM_WEIGHTS_FILE, STATUS_ANOMALY, STATUS_NO_VALUES,
    STATUS_NORMAL, STATUS_NOT_MODELLED, ParamValueModel, choose_positions, confidence_z,
    event_elapsed, event_kind, select_sessions, synthetic_value_log)
from deeplog_core.sessions import SessionSet

REPO = Path(__file__).resolve().parents[1]

# Measured on these seeds at the default confidence (0.9999): event precision 0.89,
# recall 1.0 (key by key: 0.81 / 1.0; bench/param_values.py averages three seed pairs).
# The bounds leave room for other CPUs and torch builds, which change float rounding.
MIN_PRECISION, MIN_RECALL = 0.8, 0.85


@pytest.fixture(scope="module")
def train_log():
    return synthetic_value_log(300, seed=1)


@pytest.fixture(scope="module")
def test_log():
    return synthetic_value_log(400, anomaly_share=0.1, seed=2)


@pytest.fixture(scope="module")
def epochs_seen():
    return []


@pytest.fixture(scope="module")
def model(train_log, epochs_seen):
    return ParamValueModel(ParamConfig()).fit(train_log.grouped, on_epoch=epochs_seen.append)


@pytest.fixture(scope="module")
def scores(model, test_log):
    return model.score(test_log.grouped)


def precision_recall(scores, log) -> tuple[float, float]:
    flagged = set(np.flatnonzero(scores.anomalous).tolist())
    truth = set(log.anomalies)
    hits = len(flagged & truth)
    return hits / max(1, len(flagged)), hits / len(truth)


# -- detection ---------------------------------------------------------------------------

def test_finds_injected_value_anomalies(scores, test_log):
    precision, recall = precision_recall(scores, test_log)
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, (precision, recall)
    flagged_sessions = {i for i, f in enumerate(scores.session_anomalous) if f}
    truth = test_log.anomalous_sessions
    assert len(flagged_sessions & truth) / len(truth) >= MIN_RECALL
    assert len(flagged_sessions & truth) / len(flagged_sessions) >= MIN_PRECISION


def test_every_kind_of_anomaly_is_found(scores, test_log):
    kinds = set(test_log.anomalies.values())
    assert kinds == {"slow_step", "abnormal_size", "abnormal_level"}
    for kind in kinds:
        events = [i for i, k in test_log.anomalies.items() if k == kind]
        found = sum(scores.events[i].anomalous for i in events)
        assert found / len(events) >= 0.7, kind


def test_anomalies_name_the_dimension_in_original_units(scores, test_log):
    events = test_log.grouped.events
    elapsed = event_elapsed(test_log.grouped)
    checked = set()
    for i, kind in test_log.anomalies.items():
        ev = scores.events[i]
        if not ev.anomalous:
            continue
        assert ev.error > ev.threshold and ev.outside_dims
        outside = {d.name: d for d in ev.outside_dims}
        if kind == "slow_step":
            d = outside[ELAPSED]
            assert d.actual == pytest.approx(elapsed[i]) and d.actual > d.high
            assert d.low >= 0                       # elapsed is never negative
            assert d.predicted < 2                  # a step takes 0.5-1 s
        elif kind == "abnormal_size" and ev.key == "W":
            d = outside["param 1"]
            assert d.actual == events[i].params[1]
            assert 3500 < d.predicted < 4700        # bytes around 4096
            assert not d.low <= d.actual <= d.high and abs(d.z) > confidence_z(scores.confidence)
        checked.add((kind, ev.key))
    assert ("slow_step", "W") in checked or ("slow_step", "C") in checked
    assert ("abnormal_size", "W") in checked


def test_a_lower_confidence_flags_more(model, test_log, scores):
    loose = model.score(test_log.grouped, confidence=0.99)
    assert loose.confidence == 0.99
    assert loose.anomalous.sum() > scores.anomalous.sum()
    assert (loose.anomalous | ~scores.anomalous).all()     # a superset
    with pytest.raises(ConfigError):
        model.score(test_log.grouped, confidence=1.0)


# -- what is modelled --------------------------------------------------------------------

def test_identifiers_are_not_values_and_first_events_have_no_elapsed(model):
    s, w, e, q = (model.keys_[k] for k in "SWEQ")
    assert s.positions == [1] and "identifier" in s.skipped["0"]   # the job id
    assert not s.elapsed                  # S opens every job: never a previous event
    assert w.names == ["param 0", "param 1", ELAPSED]
    assert e.positions == [] and e.names == [ELAPSED] and "identifier" in e.skipped["0"]
    assert q.names == ["param 0", ELAPSED]


def test_rare_unknown_and_new_keys_are_reported_not_modelled(model, test_log):
    assert model.not_modelled_["R"].startswith("too few samples")
    events = list(test_log.grouped.events)
    w_events = [i for i, e in enumerate(events) if e.key == "W"]
    e_events = [i for i, e in enumerate(events) if e.key == "E"]
    unknown, new, untimed = w_events[10], w_events[20], e_events[5]
    events[unknown] = dataclasses.replace(events[unknown], key=None, template="")
    events[new] = dataclasses.replace(events[new], key="Z")
    events[untimed] = dataclasses.replace(events[untimed], timestamp=None)
    log = GroupedLog(events, test_log.grouped.sessions, test_log.grouped.members)
    out = model.score(log)
    assert out.events[unknown].status == STATUS_NOT_MODELLED
    assert "unknown key" in out.events[unknown].reason
    assert out.events[new].status == STATUS_NOT_MODELLED
    assert out.events[new].reason == "key not seen in training"
    # E's one dimension is its elapsed time: with no timestamp there is nothing to judge
    assert out.events[untimed].status == STATUS_NO_VALUES and out.events[untimed].reason
    rare = [ev for ev in out.events if ev.key == "R"]
    assert rare and all(ev.status == STATUS_NOT_MODELLED and "too few" in ev.reason for ev in rare)
    for ev in out.events:
        assert ev.anomalous == (ev.status == STATUS_ANOMALY)
        assert ev.modelled == (ev.status in (STATUS_NORMAL, STATUS_ANOMALY))
    assert set(out.not_modelled_keys()) == {"<unk>", "Z", "R"}
    summary = out.summary()
    assert summary["not_modelled"] == len(rare) + 2 and summary["no_values"] == 1


def test_positions_on_the_hdfs_sample():
    from deeplog_core.ingest import ingest
    from deeplog_core.sources import LocalFileSource

    grouped = ingest(LocalFileSource(REPO / "assets" / "HDFS_5k.log"), preset="HDFS").grouped
    by_key = {}
    for e in grouped.events:
        by_key.setdefault(e.key, []).append(e)
    # "Received block <*> of size <*> from /<*>": the size, not the block id or address
    received = next(k for k, evs in by_key.items() if evs[0].template.startswith("Received block <*> of size"))
    assert choose_positions(by_key[received])[0] == [1]
    receiving = next(k for k, evs in by_key.items() if evs[0].template.startswith("Receiving block"))
    assert choose_positions(by_key[receiving])[0] == []
    # the first event of every block has no elapsed time; the others do
    elapsed = event_elapsed(grouped)
    firsts = {m[0] for m in grouped.members}
    assert all(elapsed[i] is None for i in firsts)
    assert all(elapsed[i] is not None and elapsed[i] >= 0
               for m in grouped.members for i in m[1:])


# -- results ---------------------------------------------------------------------------

def test_results_are_aligned_and_serialise(scores, test_log):
    grouped = test_log.grouped
    assert len(scores) == len(grouped.events)
    assert [ev.index for ev in scores.events] == list(range(len(grouped.events)))
    assert [ev.key for ev in scores.events] == [e.key for e in grouped.events]
    assert len(scores.session_anomalous) == len(grouped.sessions)
    for i, flag in enumerate(scores.session_anomalous):
        assert flag == any(ev.anomalous for ev in scores.session_events(i))
    doc = json.loads(json.dumps(scores.to_dict()))
    assert doc["summary"]["value_anomalies"] == len(doc["events"]) == int(scores.anomalous.sum())
    assert len(doc["sessions"]) == len(grouped.sessions)
    first = doc["events"][0]
    assert {"index", "key", "status", "error", "threshold", "dims"} <= set(first)
    assert {"name", "actual", "predicted", "low", "high", "outside"} <= set(first["dims"][0])
    everything = json.loads(json.dumps(scores.to_dict(events="all")))
    assert len(everything["events"]) == len(grouped.events)
    assert len(scores.records()) == len(grouped.events)
    counts = scores.summary()
    assert sum(counts[k] for k in ("value_anomalies", "normal", "not_modelled", "no_values")) == counts["events"]


def test_event_kind():
    assert event_kind(False, False) is None
    assert event_kind(True, False) == "key"
    assert event_kind(False, True) == "value"
    assert event_kind(True, True) == "both"


def test_select_sessions_keeps_whole_sessions(test_log):
    grouped = test_log.grouped
    normal = [i for i in range(len(grouped.sessions)) if i not in test_log.anomalous_sessions]
    sub = select_sessions(grouped, normal)
    assert len(sub.sessions) == len(normal)
    assert len(sub.events) == sum(len(grouped.members[i]) for i in normal)
    for j, i in enumerate(normal):
        assert [sub.events[k] for k in sub.members[j]] == [grouped.events[k] for k in grouped.members[i]]
    lines = [e.line_no for e in sub.events]
    assert lines == sorted(lines)


# -- fitting -----------------------------------------------------------------------------

def test_fit_is_seeded_and_deterministic(model, train_log, test_log, scores, epochs_seen):
    assert len(epochs_seen) == len(model.metrics_["history"]) > 0
    assert {"epoch", "train_loss", "val_loss", "training_keys"} <= set(epochs_seen[0])
    again = ParamValueModel(ParamConfig()).fit(train_log.grouped)
    assert {k: km.to_dict() for k, km in again.keys_.items()} == {k: km.to_dict() for k, km in model.keys_.items()}
    for (name, a), (_, b) in zip(model.net_.state_dict().items(), again.net_.state_dict().items()):
        assert torch.equal(a, b), name
    assert again.score(test_log.grouped).records() == scores.records()


def test_training_key_by_key_works_too(train_log, test_log):
    model = ParamValueModel(ParamConfig()).fit(train_log.grouped, batch_keys=False)
    assert set(model.keys_) == set("CEQSW") and model.net_.shape[0] == 5
    precision, recall = precision_recall(model.score(test_log.grouped), test_log)
    assert precision >= 0.7 and recall >= MIN_RECALL, (precision, recall)


# -- files -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(model, tmp_path_factory):
    return model.save(tmp_path_factory.mktemp("param_model"))


def test_save_load_round_trip_gives_identical_scores(saved, scores, test_log, model):
    assert (saved / PARAM_CONFIG_FILE).is_file() and (saved / PARAM_WEIGHTS_FILE).is_file()
    loaded = ParamValueModel.load(saved)
    assert loaded.config == model.config
    assert loaded.not_modelled_ == model.not_modelled_
    assert loaded.score(test_log.grouped).records() == scores.records()
    doc = json.loads((saved / PARAM_CONFIG_FILE).read_text())
    assert doc["format"] == "deeplog-param-model" and doc["config"] == ParamConfig().to_dict()
    assert doc["keys"]["W"]["dims"] == ["param 0", "param 1", ELAPSED]
    assert doc["keys"]["W"]["threshold"] == pytest.approx(model.keys_["W"].threshold(confidence_z(0.9999)))
    assert doc["weights"]["sha256"] == hashlib.sha256((saved / PARAM_WEIGHTS_FILE).read_bytes()).hexdigest()
    assert not list(saved.glob(".*"))            # no temporary files left behind


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (PARAM_CONFIG_FILE, PARAM_WEIGHTS_FILE):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _reseal(folder: Path) -> None:
    """Make param_model.json vouch for whatever weights file is there now."""
    doc = json.loads((folder / PARAM_CONFIG_FILE).read_text())
    doc["weights"]["sha256"] = hashlib.sha256((folder / PARAM_WEIGHTS_FILE).read_bytes()).hexdigest()
    (folder / PARAM_CONFIG_FILE).write_text(json.dumps(doc))


def test_tampered_weights_are_refused(saved, tmp_path):
    bad = _copy(saved, tmp_path / "m")
    data = bytearray((bad / PARAM_WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (bad / PARAM_WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        ParamValueModel.load(bad)


def test_weights_of_the_wrong_shape_are_refused(saved, tmp_path, model):
    bad = _copy(saved, tmp_path / "m")
    state = {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in model.net_.state_dict().items()}
    save_file(state, str(bad / PARAM_WEIGHTS_FILE))
    _reseal(bad)
    with pytest.raises(ModelFileError, match="do not fit"):
        ParamValueModel.load(bad)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_in_place_of_the_weights_is_refused_without_running_it(saved, tmp_path, capsys):
    bad = _copy(saved, tmp_path / "m")
    (bad / PARAM_WEIGHTS_FILE).write_bytes(pickle.dumps({"w_ih_0": Evil()}))
    _reseal(bad)
    with pytest.raises(ModelFileError, match="not a safetensors"):
        ParamValueModel.load(bad)
    assert "pwned" not in capsys.readouterr().out


def test_broken_model_files_are_refused(saved, tmp_path):
    with pytest.raises(ModelFileError, match="no parameter-value model"):
        ParamValueModel.load(tmp_path)
    bad = _copy(saved, tmp_path / "json")
    (bad / PARAM_CONFIG_FILE).write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        ParamValueModel.load(bad)
    bad = _copy(saved, tmp_path / "config")
    doc = json.loads((bad / PARAM_CONFIG_FILE).read_text())
    doc["config"]["confidence"] = 2
    (bad / PARAM_CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="invalid"):
        ParamValueModel.load(bad)
    bad = _copy(saved, tmp_path / "weights")
    (bad / PARAM_WEIGHTS_FILE).unlink()
    with pytest.raises(ModelFileError, match="missing"):
        ParamValueModel.load(bad)


# -- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    {"window_size": 0}, {"hidden_size": -1}, {"num_layers": 1.5}, {"min_samples": 5},
    {"val_fraction": 0.9}, {"confidence": 1.0}, {"confidence": 0.2}, {"lr": 0},
    {"history_noise": 0.9}, {"include_elapsed": "yes"}, {"epochs": True}, {"seed": "x"},
])
def test_bad_config_raises_config_error(bad):
    with pytest.raises(ConfigError):
        ParamConfig(**bad)


def test_config_round_trips_and_refuses_unknown_fields():
    cfg = ParamConfig(window_size=3, confidence=0.99)
    assert ParamConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        ParamConfig.from_dict({"window": 3})
    with pytest.raises(ConfigError):
        ParamValueModel({"window_size": 3})


def test_empty_input_is_a_clear_error(model):
    empty = GroupedLog([], SessionSet([]), [])
    with pytest.raises(DataFormatError, match="empty") as info:
        ParamValueModel().fit(empty)
    assert isinstance(info.value, DeepLogError)
    with pytest.raises(DataFormatError, match="empty"):
        model.score(empty)
    with pytest.raises(ModelFileError, match="not fitted"):
        ParamValueModel().score(synthetic_value_log(2).grouped)


def test_a_log_too_small_to_model_reports_every_event(tmp_path):
    log = synthetic_value_log(4, seed=3)
    model = ParamValueModel().fit(log.grouped)
    assert not model.keys_ and set(model.not_modelled_) == {"S", "Q", "W", "C", "E"} | (
        {"R"} if any(e.key == "R" for e in log.grouped.events) else set())
    out = model.score(log.grouped)
    assert all(ev.status == STATUS_NOT_MODELLED for ev in out.events)
    loaded = ParamValueModel.load(model.save(tmp_path))
    assert loaded.score(log.grouped).records() == out.records()


def test_false_positive_values_are_accepted_by_their_key_only(model, test_log, scores, tmp_path):
    from deeplog_core.params import ParamValueModel, accept_false_positives

    flagged = scores.anomalies()
    chosen_key = flagged[0].key
    chosen = [e for e in flagged if e.key == chosen_key][:2]
    updated, changed = accept_false_positives(model, chosen)
    assert changed == [chosen_key] and model.keys_[chosen_key].accepted_error == 0.0   # a copy
    after = updated.score(test_log.grouped)
    assert not any(after.events[e.index].anomalous for e in chosen)
    others = [e for e in flagged if e.key != chosen_key]
    assert all(after.events[e.index].anomalous for e in others)
    reloaded = ParamValueModel.load(updated.save(tmp_path / "m"))
    assert reloaded.keys_[chosen_key].accepted_error == updated.keys_[chosen_key].accepted_error > 0
