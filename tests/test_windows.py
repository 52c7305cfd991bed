import numpy as np

from deeplog_core.sessions import Session
from deeplog_core.vocab import EOS, PAD, UNK, Vocabulary
from deeplog_core.windows import distinct_rows, encode, make_windows, unique_pairs

VOCAB = Vocabulary(["A", "B", "C"])
A, B, C = (VOCAB.id_of(k) for k in "ABC")


def test_short_session_is_left_padded_and_every_key_predicted():
    w = make_windows(encode([Session("s", ["A", "B"])], VOCAB, session_end=True), 3)
    assert w.history.tolist() == [[PAD, PAD, PAD], [PAD, PAD, A], [PAD, A, B]]
    assert w.target.tolist() == [A, B, EOS]
    assert w.position.tolist() == [0, 1, 2]


def test_windows_never_cross_sessions():
    sessions = [Session("1", ["A", "B", "C", "A"]), Session("2", ["C"])]
    w = make_windows(encode(sessions, VOCAB, session_end=False), 2)
    assert w.offsets.tolist() == [0, 4, 5]
    assert w.history.tolist() == [[PAD, PAD], [PAD, A], [A, B], [B, C], [PAD, PAD]]
    assert w.target.tolist() == [A, B, C, A, C]
    assert w.session.tolist() == [0, 0, 0, 0, 1]


def test_unknown_keys_stay_unknown_in_targets_and_histories():
    w = make_windows(encode([Session("s", ["A", "Q", "B"])], VOCAB, session_end=False), 2)
    assert w.target.tolist() == [A, UNK, B]
    assert w.history[2].tolist() == [A, UNK]


def test_empty_inputs():
    w = make_windows(encode([Session("e", [])], VOCAB, session_end=False), 4)
    assert len(w) == 0 and w.history.shape == (0, 4)
    w = make_windows(encode([Session("e", [])], VOCAB, session_end=True), 4)
    assert w.target.tolist() == [EOS]  # an empty session still says "it ended"


def test_unique_pairs_count_repeats():
    sessions = [Session(str(i), ["A", "B"]) for i in range(5)] + [Session("x", ["A", "C"])]
    w = make_windows(encode(sessions, VOCAB, session_end=False), 2)
    hist, target, counts = unique_pairs(w, len(VOCAB))
    pairs = {(tuple(h), t): c for h, t, c in zip(hist.tolist(), target.tolist(), counts.tolist())}
    assert pairs == {((PAD, PAD), A): 6, ((PAD, A), B): 5, ((PAD, A), C): 1}
    assert counts.sum() == len(w)
    assert np.all(np.diff(np.lexsort(np.c_[hist, target].T[::-1])) >= 0)


def test_distinct_rows_packed_and_general_paths_agree():
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 5, size=(2000, 4))
    a_rows, a_inv = distinct_rows(rows, 5)              # packed into int64
    b_rows, b_inv = distinct_rows(rows, 2 ** 20)        # too wide to pack: np.unique(axis=0)
    assert (a_rows == b_rows).all() and (a_inv == b_inv).all()
    assert (a_rows[a_inv] == rows).all()
