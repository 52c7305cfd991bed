"""The log-key LSTM and the ensemble of them: what they output, and that it trains."""

import pytest
import torch
from torch.nn import functional as F

from deeplog_core import ModelConfig
from deeplog_core.model import LogKeyEnsemble, LogKeyLSTM, build_net, key_rank, member_nets
from deeplog_core.vocab import EOS, PAD, UNK

CONFIG = ModelConfig(window_size=5, hidden_size=8, num_layers=2)


def test_one_member_is_the_plain_lstm_and_more_are_an_ensemble():
    torch.manual_seed(0)
    single = build_net(9, ModelConfig(hidden_size=8, members=1))
    assert type(single) is LogKeyLSTM and member_nets(single) == [single]
    ensemble = build_net(9, ModelConfig(hidden_size=8, members=3))
    assert isinstance(ensemble, LogKeyEnsemble) and len(member_nets(ensemble)) == 3
    # the members start apart: averaging copies of one net would average nothing
    a, b = member_nets(ensemble)[:2]
    assert not torch.equal(a.fc.weight, b.fc.weight)
    assert {n.split(".")[0] for n in ensemble.state_dict()} == {"members"}


def test_the_ensemble_predicts_the_average_of_its_members_distributions():
    torch.manual_seed(1)
    net = LogKeyEnsemble([LogKeyLSTM(9, CONFIG) for _ in range(3)])
    ids = torch.randint(0, 9, (32, 5))
    out = net(ids)
    mean = sum(torch.softmax(m(ids), -1) for m in net.members) / 3
    assert torch.allclose(torch.softmax(out, -1), mean, atol=1e-6)
    assert torch.allclose(out.exp().sum(-1), torch.ones(32), atol=1e-5)   # log-probabilities
    # padding and unknown are never predictions, as in one LSTM
    assert torch.isneginf(out[:, [PAD, UNK]]).all()
    assert (key_rank(torch.softmax(out, -1), torch.full((32,), EOS)) >= 1).all()


def test_the_ensemble_trains_without_nan_gradients():
    torch.manual_seed(2)
    net = LogKeyEnsemble([LogKeyLSTM(9, CONFIG) for _ in range(2)])
    ids, target = torch.randint(0, 9, (64, 5)), torch.randint(3, 9, (64,))
    loss = F.cross_entropy(net(ids), target)
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_an_ensemble_needs_two_members_and_members_are_bounded():
    with pytest.raises(ValueError, match="at least two"):
        LogKeyEnsemble([LogKeyLSTM(9, CONFIG)])
    with pytest.raises(Exception, match="members"):
        ModelConfig(members=0)
    with pytest.raises(Exception, match="max 32"):
        ModelConfig(members=33)


def test_model_files_from_before_ensembles_read_as_one_lstm():
    old = {k: v for k, v in ModelConfig().to_dict().items() if k != "members"}
    assert ModelConfig.from_dict(old).members == 1
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()
