"""Training: seeded and reproducible, an ensemble fitted member by member (bagging), and
a run broken off in any member that resumes from its checkpoint to the very same model."""

import dataclasses
import json

import pytest
import torch

from conftest import GRAMMAR_CONFIG, GRAMMAR_TRAIN, grammar_sessions
from deeplog_core import load_model, save_model, score_sessions, train
from deeplog_core.artifacts import CONFIG_FILE
from deeplog_core.model import LogKeyLSTM, member_nets
from deeplog_core.training import CHECKPOINT_FILE, member_seed, split_validation

SESSIONS = grammar_sessions(200, seed=5)
QUICK = dataclasses.replace(GRAMMAR_TRAIN, epochs=6, patience=100)


def weights(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def test_the_same_seed_gives_the_same_weights_and_another_seed_others():
    cfg = dataclasses.replace(GRAMMAR_CONFIG, members=1)
    a, b = (train(SESSIONS, cfg, QUICK, progress=False) for _ in range(2))
    c = train(SESSIONS, cfg, dataclasses.replace(QUICK, seed=8), progress=False)
    assert isinstance(a.net, LogKeyLSTM)
    assert all(torch.equal(x, y) for x, y in zip(weights(a).values(), weights(b).values()))
    assert not torch.equal(weights(a)["fc.weight"], weights(c)["fc.weight"])


def test_an_ensembles_first_member_is_the_single_lstm_of_the_same_seed():
    one = train(SESSIONS, dataclasses.replace(GRAMMAR_CONFIG, members=1), QUICK, progress=False)
    three = train(SESSIONS, dataclasses.replace(GRAMMAR_CONFIG, members=3), QUICK, progress=False)
    first = member_nets(three.net)[0]
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in one.net.state_dict().items())


def test_members_are_bagged_with_their_own_seed_and_validation_split():
    model = train(SESSIONS, dataclasses.replace(GRAMMAR_CONFIG, members=3), QUICK, progress=False)
    members = model.metrics["members"]
    seeds = [m["seed"] for m in members]
    assert seeds == [member_seed(QUICK.seed, k) for k in range(3)] and len(set(seeds)) == 3
    splits = [{s.id for s in split_validation(SESSIONS, QUICK.val_fraction, seed)[1]} for seed in seeds]
    assert all(len(s) == 20 for s in splits) and len(splits[0] | splits[1] | splits[2]) > 40
    # each member's validation figures come from its own split; the model's are their mean
    assert model.metrics["val_loss"] == pytest.approx(sum(m["val_loss"] for m in members) / 3, abs=1e-5)
    assert model.metrics["epochs_run"] == 18
    assert [r["member"] for r in model.metrics["history"]] == [1] * 6 + [2] * 6 + [3] * 6


def test_an_ensemble_round_trips_through_its_model_directory(tmp_path):
    model = train(SESSIONS, dataclasses.replace(GRAMMAR_CONFIG, members=2), QUICK, progress=False)
    loaded = load_model(save_model(model, tmp_path / "m"), "cpu")
    assert loaded.config.members == 2 and len(member_nets(loaded.net)) == 2
    probe = grammar_sessions(20, seed=9)
    a, b = score_sessions(model, probe), score_sessions(loaded, probe)
    assert (a.rank == b.rank).all() and (a.probability == b.probability).all()
    doc = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert doc["model"]["members"] == 2 and len(doc["metrics"]["members"]) == 2


class Stop(Exception):
    pass


@pytest.mark.parametrize("member,epoch", [(1, 3), (1, 6), (2, 2)])
def test_a_run_broken_off_resumes_to_the_same_model(tmp_path, member, epoch):
    cfg = dataclasses.replace(GRAMMAR_CONFIG, members=2)
    whole = train(SESSIONS, cfg, QUICK, progress=False)

    def stop(record):
        if (record["member"], record["epoch"]) == (member, epoch):
            raise Stop

    with pytest.raises(Stop):
        train(SESSIONS, cfg, QUICK, progress=False, checkpoint_dir=tmp_path, on_epoch=stop)
    assert (tmp_path / CHECKPOINT_FILE).is_file()
    seen = []
    resumed = train(SESSIONS, cfg, QUICK, progress=False, checkpoint_dir=tmp_path, resume=True,
                    on_epoch=lambda r: seen.append((r["member"], r["epoch"])))
    # only what was left is run, and it ends where the unbroken run ended
    assert seen[0] == ((member, epoch + 1) if epoch < 6 else (member + 1, 1))
    assert resumed.metrics["resumed_from_epoch"] == (member - 1) * 6 + epoch
    assert all(torch.equal(v, weights(resumed)[k]) for k, v in weights(whole).items())


def test_a_checkpoint_of_another_configuration_is_refused(tmp_path):
    cfg = dataclasses.replace(GRAMMAR_CONFIG, members=2)
    train(SESSIONS, cfg, dataclasses.replace(QUICK, epochs=1), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(Exception, match="another model configuration"):
        train(SESSIONS, dataclasses.replace(cfg, members=3), QUICK, progress=False,
              checkpoint_dir=tmp_path, resume=True)
