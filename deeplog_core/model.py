"""The log-key model of DeepLog §3.1: an LSTM over the last h keys, a linear layer over keys."""

from __future__ import annotations

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
