import numpy as np
import pytest

from deeplog_core.vocab import EOS, PAD, RESERVED, UNK, Vocabulary


def test_ids_are_contiguous_after_reserved_and_in_natural_order():
    vocab = Vocabulary.fit([["E10", "E2"], ["E1", "E2"]])
    assert vocab.keys == ["E1", "E2", "E10"]
    assert [vocab.id_of(k) for k in vocab.keys] == [3, 4, 5]
    assert len(vocab) == len(RESERVED) + 3
    assert (PAD, UNK, EOS) == (0, 1, 2)


def test_unknown_keys_map_to_unk_never_to_a_real_key():
    vocab = Vocabulary.fit([["5", "22"]])
    ids = vocab.encode(["5", "999", "22", "-1"])
    assert ids.tolist() == [vocab.id_of("5"), UNK, vocab.id_of("22"), UNK]
    assert "999" not in vocab


def test_round_trip_and_reserved_names():
    vocab = Vocabulary.fit([["3", "12", "1"]])
    assert vocab.keys == ["1", "3", "12"]
    assert [vocab.key_of(i) for i in range(len(vocab))] == ["<pad>", "<unk>", "<eos>", "1", "3", "12"]
    assert Vocabulary(vocab.to_list()) == vocab
    assert vocab.encode([]).dtype == np.int64


def test_reserved_names_and_duplicates_are_refused():
    with pytest.raises(ValueError):
        Vocabulary(["<unk>", "A"])
    with pytest.raises(ValueError):
        Vocabulary(["A", "A"])
