"""One model over one dataset: the event table the timeline and inspect pages show."""

import pytest

from deeplog_core.analysis import analyse
from deeplog_core.demo import ensure_demo
from deeplog_core.params import load_param_model
from deeplog_core.timeline import anomalous_sessions, buckets, filter_events, normal_sample


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    ws, name, version = ensure_demo(tmp_path_factory.mktemp("ws"))
    model = ws.registry.load(version.version)
    dataset = ws.datasets.load(name)
    return ws, dataset, model, analyse(model, dataset.grouped, load_param_model(version.path))


def test_every_line_and_every_session_end_has_a_row(demo):
    _, dataset, model, a = demo
    events = a.events
    assert len(events) == len(dataset.grouped.events) + len(dataset.sessions)  # + one end per block
    ends = events[events["key"] == "<eos>"]
    assert len(ends) == 626 and ends["template"].eq("end of session").all()
    lines = events[events["key"] != "<eos>"]
    assert sorted(lines["event"]) == list(range(5000))
    j = 1234
    row = lines[lines["event"] == j].iloc[0]
    assert row["key"] == dataset.grouped.events[j].key and row["line_no"] == dataset.grouped.events[j].line_no


def test_flags_agree_with_the_two_models(demo):
    _, dataset, model, a = demo
    scores = a.scores
    assert (a.events["key_anomaly"].to_numpy() == scores.event_anomalous(a.g)).all()
    assert a.values is not None and a.events["value_anomaly"].sum() == a.values.anomalous.sum()
    kinds = a.events.loc[a.events["anomalous"], "kind"]
    assert set(kinds) <= {"key", "value", "both"} and len(kinds) == a.events["anomalous"].sum()
    flagged = set(a.sessions.loc[a.sessions["anomalous"], "session_id"])
    by_key = {s.id for s, f in zip(dataset.sessions.sessions, scores.session_anomalous(a.g)) if f}
    by_value = {sid for sid, f in zip(a.values.session_ids, a.values.session_anomalous) if f}
    assert flagged == by_key | by_value and flagged
    # a labelled anomaly the demo must catch: 200 "Served block" events in a row
    assert "blk_-3544583377289625738" in flagged


def test_verdict_and_lines_of_one_session(demo):
    _, dataset, _, a = demo
    i = a.session_index("blk_-3544583377289625738")
    v = a.verdict(i)
    assert v.session_id == "blk_-3544583377289625738" and len(v.events) == len(dataset.sessions.sessions[i].keys) + 1
    lines = a.lines(i)
    assert len(lines) == len(dataset.grouped.members[i]) and list(lines["position"]) == list(range(len(lines)))
    with pytest.raises(KeyError):
        a.session_index("blk_nope")


def test_timeline_filters_buckets_and_table(demo):
    _, _, _, a = demo
    ev = a.events
    only_values = filter_events(ev, kinds=["value"])
    assert only_values["anomalous"].sum() == (ev["kind"] == "value").sum()
    lane = ev["lane"].iloc[0]
    assert set(filter_events(ev, lanes=[lane])["lane"]) == {lane}
    t0, t1 = ev["time"].min(), ev["time"].min() + (ev["time"].max() - ev["time"].min()) / 2
    part = filter_events(ev, window=(t0, t1))
    assert part["time"].max() <= t1 and 0 < len(part) < len(ev)
    counts = buckets(ev)
    assert counts["events"].sum() == ev["time"].notna().sum() and counts["anomalies"].sum() == ev["anomalous"].sum()
    assert len(normal_sample(ev, limit=100)) == 100
    table = anomalous_sessions(a)
    assert len(table) == a.sessions["anomalous"].sum()
    assert set(table["why"]) <= {"a log key never seen in training", "the key is not among the top-g predictions",
                                 "the session ends where the model expected it to go on",
                                 "parameter values out of range"}
    assert table["anomalies"].sum() == ev["anomalous"].sum()


def test_rekeying_onto_another_models_templates(demo, tmp_path):
    from deeplog_core.analysis import rekey
    ws, dataset, model, _ = demo
    assert rekey(dataset.grouped, model) is dataset.grouped          # same templates: nothing to do
    from deeplog_core.parsing import LogParser
    from conftest import ASSETS
    lines = (ASSETS / "HDFS_5k.log").read_text().splitlines()[:300]
    small = LogParser.from_state(model.parser_state.copy())
    fresh = LogParser(small.config).fit(lines)
    clone = type(model)(**{**model.__dict__, "parser_state": fresh.to_state()})
    rekeyed = rekey(dataset.grouped, clone)
    assert rekeyed is not dataset.grouped and rekeyed.sessions.templates == fresh.templates
    assert len(rekeyed.events) == len(dataset.grouped.events)
