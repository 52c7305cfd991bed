import json
import pickle

import pytest
import torch

from conftest import ANOMALIES, grammar_sessions
from deeplog_core import ModelFileError, load_model, save_model, score_sessions
from deeplog_core.artifacts import CONFIG_FILE, WEIGHTS_FILE


def test_round_trip_gives_identical_scores(grammar_model, saved_model):
    loaded = load_model(saved_model, device="cpu")
    sessions = grammar_sessions(30, seed=3) + [a[0] for a in ANOMALIES]
    a = score_sessions(grammar_model, sessions)
    b = score_sessions(loaded, sessions)
    assert (a.rank == b.rank).all()
    assert torch.allclose(torch.from_numpy(a.probability), torch.from_numpy(b.probability))
    assert loaded.config == grammar_model.config and loaded.vocab == grammar_model.vocab


def test_config_json_records_everything(saved_model):
    doc = json.loads((saved_model / CONFIG_FILE).read_text())
    assert doc["format"] == "deeplog-model"
    assert doc["model"]["window_size"] == 6 and doc["model"]["num_candidates"] == 2
    assert doc["train"]["seed"] == 7
    assert doc["vocabulary"] == ["A", "B", "C", "D", "E", "F"]
    assert doc["data"]["fingerprint"].startswith("sha256:")
    assert doc["library_version"]
    assert "val_loss" in doc["metrics"] and doc["metrics"]["history"]
    assert len(doc["weights"]["sha256"]) == 64


def _copy(src, dst):
    dst.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_tampered_weights_are_refused(saved_model, tmp_path):
    bad = _copy(saved_model, tmp_path / "m")
    data = bytearray((bad / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (bad / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(bad)


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_pickle_in_place_of_the_weights_is_refused_without_running_it(saved_model, tmp_path, capsys):
    bad = _copy(saved_model, tmp_path / "m")
    payload = pickle.dumps({"lstm.weight": Evil()})
    (bad / WEIGHTS_FILE).write_bytes(payload)
    doc = json.loads((bad / CONFIG_FILE).read_text())
    import hashlib
    doc["weights"]["sha256"] = hashlib.sha256(payload).hexdigest()  # a careful attacker
    (bad / CONFIG_FILE).write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="not a safetensors"):
        load_model(bad)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: (d / CONFIG_FILE).unlink(), "not a model directory"),
    (lambda d: (d / WEIGHTS_FILE).unlink(), "missing"),
    (lambda d: (d / CONFIG_FILE).write_text("{not json"), "not valid JSON"),
    (lambda d: (d / CONFIG_FILE).write_text('{"format": "other"}'), "not a DeepLog model"),
    (lambda d: (d / CONFIG_FILE).write_text(
        (d / CONFIG_FILE).read_text().replace('"hidden_size": 32', '"hidden_size": 64')), "do not fit"),
    (lambda d: (d / CONFIG_FILE).write_text(
        (d / CONFIG_FILE).read_text().replace('"format_version": 1', '"format_version": 99')), "version"),
])
def test_broken_model_directories_give_clear_errors(saved_model, tmp_path, mutate, fragment):
    bad = _copy(saved_model, tmp_path / "m")
    mutate(bad)
    with pytest.raises(ModelFileError, match=fragment):
        load_model(bad)


def test_unwritable_model_dir(grammar_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModelFileError, match="cannot create"):
        save_model(grammar_model, blocker / "sub")


def test_parser_state_round_trip_and_tamper_check(grammar_model, tmp_path):
    import dataclasses
    state = {"config": {"log_format": "<Content>"}, "templates": {"E1": "hello <*>"}}
    model = dataclasses.replace(grammar_model, parser_state=state)
    path = save_model(model, tmp_path / "raw")
    assert load_model(path).parser_state == state
    (path / "parser.json").write_text(json.dumps({"config": {}, "templates": {"E1": "x"}}))
    with pytest.raises(ModelFileError, match="parser.json"):
        load_model(path)
