"""Detection on a grammar whose anomalies are known exactly (see conftest)."""

import pytest
import torch

from conftest import ANOMALIES, grammar_sessions
from deeplog_core import Session, detect, score_sessions
from deeplog_core.detect import score_window_by_window
from deeplog_core.model import key_rank
from deeplog_core.vocab import EOS


def test_normal_sessions_are_never_flagged(grammar_model):
    unseen_normals = grammar_sessions(200, seed=99)
    flags = score_sessions(grammar_model, unseen_normals).session_anomalous()
    assert not flags.any()


@pytest.mark.parametrize("session,position,reason,g", ANOMALIES, ids=[a[0].id for a in ANOMALIES])
def test_each_anomaly_is_found_at_the_right_event_for_the_right_reason(grammar_model, session, position, reason, g):
    verdict = detect(grammar_model, [session], num_candidates=g)[0]
    assert verdict.anomalous
    event = verdict.events[position]
    assert event.anomalous and event.reason == reason
    # at g=2 (the grammar's widest branching) everything before the deviation is normal
    wide = detect(grammar_model, [session], num_candidates=2)[0]
    assert not any(e.anomalous for e in wide.events[:position])
    assert event.probability < 0.05
    if reason == "unknown_key":
        assert event.rank is None and event.key == "Z" and event.probability == 0
    else:
        assert event.rank > g


def test_event_details_rank_probability_and_candidates(grammar_model):
    verdict = detect(grammar_model, [Session("n", ["A", "B", "C", "D", "E"])])[0]
    assert not verdict.anomalous and verdict.first_anomaly is None
    assert [e.key for e in verdict.events] == ["A", "B", "C", "D", "E", "<eos>"]
    assert [e.position for e in verdict.events] == list(range(6))
    after_c = verdict.events[3]            # after A B C: the grammar allows B or D
    assert {k for k, _ in after_c.candidates} == {"B", "D"}
    assert after_c.rank in (1, 2)
    probs = [p for _, p in after_c.candidates]
    assert probs == sorted(probs, reverse=True) and 0.9 < sum(probs) <= 1.0001
    assert verdict.events[4].candidates[0][0] == "E" and verdict.events[4].rank == 1
    assert all(k not in ("<pad>", "<unk>") for e in verdict.events for k, _ in e.candidates)


def test_sessions_shorter_than_the_window_are_scored_not_flagged(grammar_model):
    # h = 6: every one of these has fewer than h+1 keys, yet each event is predicted
    short = [Session("a", ["A", "B", "C", "D", "E"]), Session("b", ["A", "F", "B", "C", "D", "E"])]
    scores = score_sessions(grammar_model, short)
    assert grammar_model.config.window_size + 1 > max(len(s.keys) for s in short)
    assert len(scores.target) == 5 + 1 + 6 + 1
    assert not scores.session_anomalous().any()


def test_batched_detector_agrees_with_the_window_by_window_loop(grammar_model):
    sessions = grammar_sessions(40, seed=5) + [a[0] for a in ANOMALIES]
    for g in (1, 2, 3):
        batched = score_sessions(grammar_model, sessions, num_candidates=g, batch_size=7)
        classic = score_window_by_window(grammar_model, sessions, num_candidates=g)
        assert batched.session_anomalous().tolist() == classic
    assert batched.session_anomalous(1).sum() > batched.session_anomalous(3).sum()


def test_each_distinct_window_is_scored_once(grammar_model):
    sessions = [Session(str(i), ["A", "B", "C", "D", "E"]) for i in range(500)]
    scores = score_sessions(grammar_model, sessions)
    assert len(scores.target) == 500 * 6
    assert scores.distinct_histories == 6


def test_num_candidates_changes_the_verdict_without_rescoring(grammar_model):
    scores = score_sessions(grammar_model, [Session("swap", ["A", "D", "B", "C", "E"])])
    ranks = scores.rank[scores.target != EOS]
    worst = int(ranks.max())
    assert scores.session_anomalous(worst - 1)[0]
    flags_wide = scores.event_anomalous(worst)
    assert not flags_wide[scores.target != EOS].any()


def test_empty_input_list(grammar_model):
    scores = score_sessions(grammar_model, [])
    assert len(scores) == 0 and scores.session_anomalous().shape == (0,)


def test_the_end_of_a_session_never_takes_a_log_keys_slot():
    # ids: PAD 0, UNK 1, EOS 2, then three keys; ending is the most likely next event
    probs = torch.tensor([[0.0, 0.0, 0.5, 0.3, 0.15, 0.05]] * 4)
    target = torch.tensor([3, 4, 5, EOS])
    # keys are ranked among keys only; the end is ranked against the keys
    assert key_rank(probs, target).tolist() == [1, 2, 3, 1]
    probs = torch.tensor([[0.0, 0.0, 0.1, 0.3, 0.4, 0.2]])
    assert key_rank(probs, torch.tensor([EOS])).tolist() == [4]


def test_candidates_are_g_log_keys_and_the_end_where_it_ranks(grammar_model):
    sessions = grammar_sessions(30, seed=11) + [a[0] for a in ANOMALIES]
    for g in (1, 2, 3):
        for verdict in score_sessions(grammar_model, sessions, num_candidates=g).verdicts():
            for event in verdict.events:
                keys = [k for k, _ in event.candidates if k != "<eos>"]
                assert len(keys) == g and len(event.candidates) - len(keys) <= 1
                if event.key != "<eos>" and event.rank is not None:
                    assert event.anomalous == (event.key not in keys)
