"""Workflow graphs (DeepLog §4.3): synthetic workflows whose true graph is known, then the
bundled HDFS sample, whose block lifecycle must come out recognisably."""

import json
import random

import pydot
import pytest
import torch

from conftest import ASSETS, grammar_sessions
from deeplog_core import ModelConfig, Session, TrainConfig, score_sessions, train
from deeplog_core import read_sessions
from deeplog_core.detect import EventVerdict, SessionVerdict
from deeplog_core.workflow import (END, START, Workflow, WorkflowView, build_workflow, load_json,
                                   overlay, to_dot, to_json)

# pydot's DOT parser (used here to check the DOT is valid) calls deprecated pyparsing names
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")


def sessions_of(*patterns):
    """Sessions from (keys, how many) pairs."""
    out = []
    for keys, n in patterns:
        out += [Session(f"s{len(out) + i}", list(keys), 0) for i in range(n)]
    return out


def assert_probabilities_sum_to_one(wf):
    for n in wf.graph:
        out = [d["probability"] for _, _, d in wf.graph.out_edges(n, data=True)]
        if n == END:
            assert out == []
        else:
            assert sum(out) == pytest.approx(1.0), n


def dot_nodes(text):
    """{label's first line: attributes} of a DOT text (parsed back: it must be valid)."""
    graph = pydot.graph_from_dot_data(text)[0]
    out = {}
    for node in graph.get_nodes():
        attrs = node.get_attributes()
        if "label" in attrs:
            out[attrs["label"].strip('"').split("\\n")[0]] = attrs
    return graph, out


# -- synthetic workflows ---------------------------------------------------------------

@pytest.fixture(scope="module")
def sequential():
    return build_workflow(sessions_of(("ABC", 50)), {"A": "open <*>", "B": "read <*>", "C": "close <*>"})


@pytest.fixture(scope="module")
def concurrent():
    return build_workflow(sessions_of(("ABCD", 30), ("ACBD", 20)))


@pytest.fixture(scope="module")
def looping():
    rng = random.Random(3)
    return build_workflow([["A"] + ["B", "C"] * rng.randint(1, 3) + ["D"] for _ in range(120)])


def test_sequential_workflow_is_a_line_merged_into_one_chain(sequential):
    g = sequential.graph
    assert list(g.edges()) == [(START, "A"), ("A", "B"), ("B", "C"), ("C", END)]
    assert all(d["probability"] == 1.0 and d["count"] == 50 for _, _, d in g.edges(data=True))
    assert g.nodes["B"]["template"] == "read <*>" and g.nodes["B"]["count"] == 50
    assert sequential.groups == [] and sequential.loops == []
    view = sequential.simplified()
    assert list(view.graph) == [START, "chain:1", END]
    chain = view.graph.nodes["chain:1"]
    assert chain["kind"] == "chain" and chain["keys"] == ["A", "B", "C"] and chain["label"] == "A → B → C"
    assert "open <*>" in chain["detail"]
    assert view.graph.edges[START, "chain:1"]["probability"] == 1.0
    assert view.node_of("B") == "chain:1"
    # the task starts at the chain; its steps are no boundaries of their own
    assert [(b.node, b.kind) for b in sequential.boundaries] == [("A", "start")]


def test_concurrent_branches_are_one_group_collapsed_in_the_view(concurrent):
    assert [g.keys for g in concurrent.groups] == [["B", "C"]]
    assert concurrent.concurrent("B", "C") and not concurrent.concurrent("A", "D")
    pair = concurrent.groups[0].pairs[0]
    assert (pair["a_first"], pair["b_first"]) == (30, 20) and pair["share"] == 0.4
    assert concurrent.graph.nodes["B"]["group"] == "group:1"
    assert concurrent.loops == []          # B -> C -> B is an interleaving, not a loop
    assert concurrent.probability("A", "B") == pytest.approx(0.6)
    view = concurrent.simplified()
    assert list(view.graph) == [START, "A", "group:1", "D", END]
    group = view.graph.nodes["group:1"]
    assert group["kind"] == "group" and group["keys"] == ["B", "C"] and group["label"] == "B ∥ C"
    assert view.graph.edges["A", "group:1"]["probability"] == 1.0
    assert view.graph.edges["group:1", "D"]["probability"] == 1.0
    assert sorted(map(tuple, group["internal"])) == [("B", "C", 30), ("C", "B", 20)]
    # a new task begins where the concurrent branches join
    assert {(b.node, b.kind) for b in concurrent.boundaries} == {("A", "start"), ("D", "cut")}
    # without collapsing, both branches stay, the rarer order drawn as a back edge
    flat = concurrent.simplified(collapse_groups=False)
    assert set(flat.graph) == {START, "A", "B", "C", "D", END}
    assert flat.graph.edges["C", "B"]["back"] and not flat.graph.edges["B", "C"]["back"]


def test_loop_is_found_with_its_entry_back_edge_and_iterations(looping):
    assert looping.groups == []            # B always comes first: a loop, not concurrency
    [loop] = looping.loops
    assert loop.keys == ["B", "C"] and loop.entry == "B" and loop.back_edge == ("C", "B")
    assert not loop.self_loop
    reps = dict(map(tuple, loop.iterations["histogram"]))
    assert set(reps) <= {2, 3} and loop.sessions == sum(reps.values()) > 40
    assert loop.iterations["max"] == 3
    # the view: the loop's body is one chain that repeats (a self-loop on it)
    view = looping.simplified()
    assert list(view.graph) == [START, "A", "chain:1", "D", END]
    body = view.graph.nodes["chain:1"]
    assert body["keys"] == ["B", "C"] and body["loops"] == ["loop:1"] and "(B → C) ↻ ×" in body["detail"]
    again = view.graph.edges["chain:1", "chain:1"]
    assert again["count"] == sum((n - 1) * c for n, c in reps.items())
    assert again["probability"] + view.graph.edges["chain:1", "D"]["probability"] == pytest.approx(1)
    layers = [view.graph.nodes[n]["layer"] for n in view.graph]
    assert layers == [0, 1, 2, 3, 4]
    # unmerged, the loop is a back edge of the layering
    flat = looping.simplified(merge_chains=False)
    assert flat.graph.edges["C", "B"]["back"] and not flat.graph.edges["B", "C"]["back"]
    layers = {n: flat.graph.nodes[n]["layer"] for n in flat.graph}
    assert layers[START] < layers["A"] < layers["B"] < layers["C"] < layers["D"] < layers[END]
    assert {(b.node, b.kind) for b in looping.boundaries} >= {("A", "start"), ("D", "cut")}


def test_self_loop_and_chain_in_the_conftest_grammar():
    wf = build_workflow(grammar_sessions(300))    # A [F] (B C){1..3} D E
    assert [lp.keys for lp in wf.loops] == [["B", "C"]]
    view = wf.simplified()
    chains = [d for _, d in view.graph.nodes(data=True) if d["kind"] == "chain"]
    assert [c["keys"] for c in chains] == [["B", "C"], ["D", "E"]]
    assert view.graph.number_of_nodes() == 6      # START A F (B C)* (D E) END
    assert view.graph.has_edge("chain:1", "chain:1") and view.graph.has_edge("A", "chain:1")
    repeats = build_workflow(sessions_of(("AXXXB", 20), ("AXXB", 10)))
    [lp] = repeats.loops
    assert lp.self_loop and lp.keys == ["X"] and lp.iterations["mode"] == 3
    assert repeats.graph.nodes["X"]["multiplicity"] == 3
    v = repeats.simplified()
    assert v.graph.has_edge("X", "X") and v.graph.nodes["X"]["label"] == "X ×3"
    assert "A" in v.graph and "X" in v.graph     # a repeating key is no chain link


def test_probabilities_sum_to_one(sequential, concurrent, looping):
    for wf in (sequential, concurrent, looping, build_workflow(grammar_sessions(200))):
        assert_probabilities_sum_to_one(wf)
        for u, v, d in wf.simplified().graph.edges(data=True):
            assert 0 < d["probability"] <= 1


def test_rare_edges_dropped_or_kept_grey():
    wf = build_workflow(sessions_of(("ABC", 198), ("AXC", 2)), min_support=0.05)
    assert wf.graph.edges["A", "X"]["rare"] and not wf.graph.edges["A", "B"]["rare"]
    view = wf.simplified()
    assert "X" not in view.graph and list(view.graph) == [START, "chain:1", END]
    assert view.graph.edges[START, "chain:1"]["probability"] == 1.0
    kept = wf.simplified(keep_rare=True)
    assert kept.graph.nodes["X"]["rare"] and kept.graph.edges["A", "X"]["rare"]
    assert 'color=grey' in kept.to_dot()
    strict = wf.simplified(min_probability=0.0, min_share=0.0)
    assert "X" in strict.graph and not strict.graph.edges["A", "X"]["rare"]


def test_layout_is_deterministic_and_layered(looping):
    a, b = looping.simplified(), looping.simplified()
    assert a.positions() == b.positions()
    xs = {n: x for n, (x, _) in a.positions().items()}
    assert xs[START] == min(xs.values()) and xs[END] == max(xs.values())
    full = looping.layout()
    assert set(full) == set(looping.graph) and full[START][0] < full[END][0]


# -- overlays --------------------------------------------------------------------------

def test_overlay_unexpected_key_without_verdict(sequential):
    ov = overlay(sequential, Session("bad", ["A", "C"], 1))
    assert ov.path == [START, "A", "C", END]
    d = ov.divergence
    assert (d.position, d.last_normal, d.last_normal_position, d.key, d.reason, d.source) == \
        (1, "A", 0, "C", "unexpected_key", "workflow")
    assert d.expected == [("B", 1.0)]
    assert [s.normal for s in ov.steps] == [True, False, True]
    assert [(t["source"], t["target"]) for t in ov.off_graph] == [("A", "C")]
    proj = ov.project(sequential.simplified())
    assert proj["path"] == [START, "chain:1", END]       # A and C are inside the chain
    assert proj["divergence"]["last_normal"] == proj["divergence"]["key"] == "chain:1"


def test_overlay_early_end_and_unknown_key(sequential):
    ov = overlay(sequential, ["A", "B"])
    d = ov.divergence
    assert (d.position, d.last_normal, d.key, d.reason) == (2, "B", END, "unexpected_end")
    assert d.expected == [("C", 1.0)]
    ov = overlay(sequential, ["A", "Z", "B", "C"])
    assert (ov.divergence.position, ov.divergence.key, ov.divergence.reason) == (1, "Z", "unknown_key")
    assert not overlay(sequential, ["A", "B", "C"]).divergence


def test_overlay_counts_traversals_and_uses_the_verdict(looping):
    keys = ["A", "B", "C", "B", "C", "D", "D"]
    ov = overlay(looping, keys)
    trav = {(t["source"], t["target"]): t for t in ov.traversals}
    assert trav["B", "C"]["count"] == 2 and trav["C", "B"]["count"] == 1
    assert trav["D", "D"]["in_graph"] is False and ov.visits["B"] == 2
    assert (ov.divergence.position, ov.divergence.key, ov.divergence.last_normal) == (6, "D", "D")
    # a verdict decides the divergence and supplies the expected keys
    events = [EventVerdict(i, k, 1, 0.9, [(k, 0.9)], False, None) for i, k in enumerate(keys)]
    events.append(EventVerdict(len(keys), "<eos>", 1, 0.9, [("<eos>", 0.9)], False, None))
    events[4] = EventVerdict(4, "C", 5, 0.01, [("D", 0.7), ("<eos>", 0.2)], True, "unexpected_key")
    verdict = SessionVerdict("s", 1, True, 4, events)
    ov = overlay(looping, Session("s", keys, 1), verdict)
    d = ov.divergence
    assert (d.position, d.last_normal, d.last_normal_position, d.key, d.source) == (4, "B", 3, "C", "verdict")
    assert d.expected == [("D", 0.7), (END, 0.2)]
    assert not ov.steps[4].normal and ov.steps[4].in_graph and ov.steps[6].normal


def test_json_round_trips(concurrent):
    ov = overlay(concurrent, Session("x", ["A", "D"], 1))
    text = to_json(concurrent, ov, indent=1)
    data = json.loads(text)
    assert data["format"] == "deeplog-workflow" and data["start"] == START and data["end"] == END
    assert {n["id"] for n in data["graph"]["nodes"]} == {START, "A", "B", "C", "D", END}
    assert data["groups"][0]["keys"] == ["B", "C"]
    assert data["overlay"]["divergence"]["expected"] == [{"key": "B", "probability": 0.6},
                                                         {"key": "C", "probability": 0.4}]
    assert data["overlay"]["view"]["divergence"]["key"] == "D"
    wf, ov2 = load_json(text)
    assert isinstance(wf, Workflow) and wf.to_dict() == concurrent.to_dict()
    assert ov2 == ov
    assert dict(wf.graph.edges["A", "B"]) == dict(concurrent.graph.edges["A", "B"])
    view = concurrent.simplified()
    v2, none = load_json(view.to_json())
    assert isinstance(v2, WorkflowView) and none is None
    assert v2.to_dict() == view.to_dict() and v2.positions() == view.positions()
    assert json.loads(view.to_json(ov))["overlay"]["view"]["path"] == [START, "A", "D", END]


def test_dot_highlights_the_path_and_the_divergence(concurrent):
    ov = overlay(concurrent, Session("x", ["A", "D"], 1))   # B and C skipped
    assert ov.divergence.key == "D" and ov.divergence.last_normal == "A"
    text = to_dot(concurrent, ov)
    graph, nodes = dot_nodes(text)
    assert nodes["D"]["fillcolor"] == "red" and nodes["A"]["fillcolor"] == "orange"
    assert nodes["B"]["color"] == nodes["C"]["color"] == "darkgreen"   # what was expected
    edge = graph.get_edge("A", "D")[0].get_attributes()
    assert edge["color"] == "red" and "divergence" in edge["label"]
    assert "expected B 0.60" in graph.get_edge("A", "B")[0].get_attributes()["label"]
    assert graph.get_edge("start", "A")[0].get_attributes()["color"] == "blue"
    assert "diverges at position 1" in graph.get_attributes()["label"]
    # the view: the divergence sits inside the group, an unknown key is added in red
    _, vnodes = dot_nodes(concurrent.simplified().to_dot(overlay(concurrent, ["A", "Q", "D"])))
    assert vnodes["Q"]["fillcolor"] == "red" and vnodes["A"]["fillcolor"] == "orange"
    assert "concurrent, in any order:" in vnodes


# -- HDFS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hdfs():
    """(normal training blocks, labelled dev blocks) of the bundled HDFS_100k split."""
    base = ASSETS / "hdfs_100k"
    return read_sessions(base / "train.csv"), read_sessions(base / "dev.csv")


@pytest.fixture(scope="module")
def hdfs_workflow(hdfs):
    return build_workflow(hdfs[0])


def test_hdfs_block_lifecycle(hdfs_workflow):
    wf, g = hdfs_workflow, hdfs_workflow.graph
    assert g.nodes["E1"]["template"].startswith("BLOCK* NameSystem.allocateBlock")
    assert_probabilities_sum_to_one(wf)
    # allocate -> receiving x3 (from three datanodes, interleaved with the allocation)
    assert wf.probability("E1", "E2") > 0.9
    assert wf.probability(START, "E1") + wf.probability(START, "E2") > 0.99
    groups = [set(gr.keys) for gr in wf.groups]
    assert {"E1", "E2"} in groups
    receiving = next(lp for lp in wf.loops if lp.keys == ["E2"])
    assert receiving.iterations["mode"] == 3 and receiving.sessions > 0.95 * wf.sessions
    # each datanode: PacketResponder terminating -> received, three times, concurrently
    # with addStoredBlock (x3)
    assert wf.probability("E5", "E3") > 0.9
    assert {"E3", "E4", "E5"} in groups and wf.concurrent("E4", "E5") and not wf.concurrent("E5", "E3")
    responder = next(lp for lp in wf.loops if lp.keys == ["E5", "E3"])
    assert responder.entry == "E5" and responder.iterations["mode"] == 3
    assert g.nodes["E4"]["multiplicity"] == 3
    # then optionally verification (E6), then the end
    assert wf.probability("E6", END) > 0.5
    assert [(b.node, b.kind) for b in wf.boundaries] == [("group:1", "start"), ("group:2", "cut")]

    view = wf.simplified()
    assert view.graph.number_of_nodes() <= 20
    assert list(view.graph) == [START, "group:1", "group:2", "E6", END]
    assert view.graph.edges[START, "group:1"]["probability"] > 0.99
    assert view.graph.edges["group:1", "group:2"]["probability"] > 0.99
    assert view.graph.nodes["group:1"]["label"] == "E1 ∥ E2 ×3"
    layers = [view.graph.nodes[n]["layer"] for n in view.graph]
    assert layers == sorted(layers) and len(set(layers)) == 5
    rare = wf.simplified(keep_rare=True)
    assert view.graph.number_of_nodes() < rare.graph.number_of_nodes() <= 20


@pytest.fixture(scope="module")
def hdfs_model(hdfs):
    """A DeepLog key model of the HDFS sample, small and fitted on its 400 distinct
    sequences: seconds on two cores (the default model takes far longer there) and as good on
    the dev anomalies (unknown keys, early ends, unexpected keys)."""
    distinct = list({tuple(s.keys): s for s in hdfs[0].sessions}.values())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # small batches: extra threads only contend (25x slower on a busy 2-core box)
    try:
        return train(distinct, ModelConfig(hidden_size=32),
                     TrainConfig(epochs=60, batch_size=128, lr=5e-3, seed=1), progress=False)
    finally:
        torch.set_num_threads(threads)


def test_hdfs_anomaly_overlay_diverges_where_the_model_says(hdfs, hdfs_workflow, hdfs_model):
    dev = [s for s in hdfs[1].sessions if s.label == 1][:60]
    scores = score_sessions(hdfs_model, dev)
    view = hdfs_workflow.simplified()
    checked = set()
    for i, session in enumerate(dev):
        verdict = scores.verdict(i)
        if not verdict.anomalous:
            continue
        ov = overlay(hdfs_workflow, session, verdict)
        d, pos = ov.divergence, verdict.first_anomaly
        event = verdict.events[pos]
        assert d.position == pos and d.reason == event.reason and d.source == "verdict"
        assert d.key == (END if pos == len(session.keys) else session.keys[pos])
        assert d.last_normal == (START if pos == 0 else session.keys[pos - 1])
        assert [k for k, _ in d.expected] == [END if k == "<eos>" else k for k, _ in event.candidates]
        if d.reason in checked:
            continue
        checked.add(d.reason)       # the first of each reason, drawn on the view
        proj = ov.project(view)
        assert proj["divergence"]["key"] in proj["path"]
        assert proj["divergence"]["key"] in view.graph or proj["divergence"]["key"] in proj["unknown"]
        graph, nodes = dot_nodes(to_dot(view, ov))
        assert f"diverges at position {pos}" in graph.get_attributes()["label"]
        assert any(a.get("fillcolor") == "red" for a in nodes.values())
    assert {"unknown_key", "unexpected_end"} <= checked
