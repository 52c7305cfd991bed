"""The log-key model of DeepLog §3.1: an LSTM over the last h keys, a linear layer over keys;
and an ensemble of such LSTMs (ModelConfig.members) that predicts their average."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import ModelConfig
from .vocab import EOS, PAD, UNK


def key_rank(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1-based rank of each target among the log keys: 1 + how many keys are more likely.

    The end of a session is not a log key, so it never takes one of a key's g slots: g
    counts log keys, as in the paper (with the end competing for a slot, g = 9 became
    g = 8 wherever ending was likely; bench/ablation.py). The end itself is ranked
    against the keys.
    """
    p = probs.gather(1, target[:, None])
    above = (probs > p).sum(1)
    end_above = (probs[:, EOS] > p[:, 0]) & (target != EOS)
    return above - end_above.long() + 1


class LogKeyLSTM(nn.Module):
    """Predicts a distribution over the next key from a (B, h) batch of key ids.

    PAD and UNK are never predictions: their logits are masked out, so the top-g
    candidates are always real keys (or the end of the session).
    """

    def __init__(self, num_keys: int, config: ModelConfig):
        super().__init__()
        self.num_keys = num_keys
        self.input_mode = config.input_mode
        if config.input_mode == "embedding":
            self.embed = nn.Embedding(num_keys, config.embedding_dim, padding_idx=PAD)
            input_dim = config.embedding_dim
        elif config.input_mode == "onehot":
            input_dim = num_keys
        else:  # scalar: the key id as one number, the seed's --input-size 1
            input_dim = 1
        self.lstm = nn.LSTM(input_dim, config.hidden_size, config.num_layers, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.fc = nn.Linear(config.hidden_size, num_keys)
        mask = torch.zeros(num_keys, dtype=torch.bool)
        mask[[PAD, UNK]] = True
        self.register_buffer("output_mask", mask, persistent=False)

    def _inputs(self, ids: torch.Tensor) -> torch.Tensor:
        if self.input_mode == "embedding":
            return self.embed(ids)
        if self.input_mode == "onehot":
            return F.one_hot(ids, self.num_keys).float()
        return (ids.float() / (self.num_keys - 1)).unsqueeze(-1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self._inputs(ids))
        logits = self.fc(out[:, -1, :])
        return logits.masked_fill(self.output_mask, float("-inf"))


class LogKeyEnsemble(nn.Module):
    """Several LogKeyLSTMs of one shape, trained apart (training.train: bagging, each with
    its own seed and validation split), predicting the average of their distributions.

    forward returns log-probabilities of the mixture, so everything that takes a
    LogKeyLSTM's logits works unchanged: softmax(forward(x)) is the mixture and
    cross_entropy(forward(x), y) its negative log-likelihood. Averaging helps exactly
    where one LSTM is unsure: a rare but normal next key that one member ranks 12th and
    another 4th lands inside the top g (docs/architecture.md).
    """

    def __init__(self, members: list[LogKeyLSTM]):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)
        self.num_keys = members[0].num_keys

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = self.members[0].output_mask
        # The masked ids (PAD, UNK) are -inf in every member; a logsumexp over -inf alone
        # has a NaN gradient, so they are summed as 0 and masked again afterwards.
        logp = torch.stack([F.log_softmax(m(ids), dim=-1) for m in self.members]).masked_fill(mask, 0.0)
        mixture = torch.logsumexp(logp, dim=0) - math.log(len(self.members))
        return mixture.masked_fill(mask, float("-inf"))


def build_net(num_keys: int, config: ModelConfig) -> nn.Module:
    """The untrained net a configuration describes: one LSTM, or an ensemble of them."""
    if config.members == 1:
        return LogKeyLSTM(num_keys, config)
    return LogKeyEnsemble([LogKeyLSTM(num_keys, config) for _ in range(config.members)])


def member_nets(net: nn.Module) -> list[LogKeyLSTM]:
    """The LSTMs a net is made of (itself, when it is one)."""
    return list(net.members) if isinstance(net, LogKeyEnsemble) else [net]
