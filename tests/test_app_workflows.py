"""The Workflows page (driven by Streamlit's AppTest on the demo workspace) and its plotly
drawing, app/workflow_chart.py (on small workflows whose shape is known)."""

import sys

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from deeplog_core import Session
from deeplog_core.detect import EventVerdict, SessionVerdict
from deeplog_core.workflow import END, START, build_workflow, overlay

sys.path.insert(0, str(REPO / "app"))
from workflow_chart import EXPECTED, LAST_NORMAL, OFF, PATH, node_at, view_figure  # noqa: E402

PAGE = "app_pages/workflows.py"


# -- the page ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def truth(workspace):
    """The demo's analysis and normal workflow, computed here with the library."""
    from deeplog_core.analysis import analyse
    from deeplog_core.artifacts import load_model
    from deeplog_core.demo import ensure_demo
    from deeplog_core.params import load_param_model

    ws, name, version = ensure_demo(workspace)
    analysis = analyse(load_model(version.path, device="cpu"), ws.datasets.load(name).grouped,
                       load_param_model(version.path))
    S, ss = analysis.sessions, analysis.grouped.sessions
    normal = [s for s, l, a in zip(ss.sessions, S["label"], S["anomalous"]) if l != 1 and not a]
    return analysis, build_workflow(normal, ss.templates)


@pytest.fixture
def app(workspace, truth, monkeypatch):
    monkeypatch.setenv("DEEPLOG_WORKSPACE", str(workspace))

    def open_page(**state):
        at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=240)
        for k, v in state.items():
            at.session_state[k] = v
        at.switch_page(PAGE).run()
        assert not at.exception, at.exception
        return at

    return open_page


def name(k):
    return {START: "START", END: "END"}.get(k, k)


def test_graph_and_the_divergence_of_the_first_flagged_session(app, truth):
    analysis, wf = truth
    S = analysis.sessions
    at = app()
    assert at.get("plotly_chart"), "no workflow chart"
    assert any("not labelled anomalous" in c.value and f"{wf.sessions:,} sessions" in c.value
               for c in at.caption)
    assert wf.sessions == int(((S["label"] != 1) & ~S["anomalous"]).sum())
    # by default the first flagged session, those that diverge by their log keys first
    keyed = S[S["anomalous"] & (S["key_anomalies"] > 0)]
    first = (keyed if len(keyed) else S[S["anomalous"]])["session_id"].iloc[0]
    assert at.selectbox(key="workflow_session").value == first
    verdict = analysis.verdict(analysis.session_index(first))
    if verdict.first_anomaly is None:
        pytest.skip("the demo model flags no session by its log keys")
    event = next(e for e in verdict.events if e.position == verdict.first_anomaly)
    text = at.error[0].value
    assert f"Diverges at position {verdict.first_anomaly}" in text
    assert f"`{name(event.key)}`" in text
    for k, p in event.candidates:   # the keys the model expected there, with probabilities
        assert f"`{name(k)}` {p:.3f}" in text
    assert [b.label for b in at.get("download_button")] == ["Download DOT", "Download JSON"]


def test_choosing_a_node_shows_its_template_frequency_and_examples(app, truth):
    analysis, wf = truth
    at = app()
    at.selectbox(key="workflow_node").select("E1").run()
    assert not at.exception, at.exception
    row = at.dataframe[0].value.iloc[0]
    assert row["key"] == "E1" and row["template"] == analysis.grouped.sessions.templates["E1"]
    assert row["normal sessions"] == wf.graph.nodes["E1"]["sessions"]
    assert row["typical ×"] == wf.graph.nodes["E1"]["multiplicity"]
    raws = [e.raw for e in analysis.grouped.events if e.key == "E1"][:3]
    assert at.code[0].value.splitlines() == raws


def test_inspect_session_selects_that_session(app, truth):
    analysis, wf = truth
    S = analysis.sessions
    # a session the model accepts by its keys: no divergence by its verdict
    sid = S[(S["key_anomalies"] == 0) & (S["label"] == 1)]["session_id"].iloc[-1]
    at = app(inspect_session=sid)
    assert at.selectbox(key="workflow_session").value == sid
    assert "accepts every log key" in at.info[0].value
    # judged by the workflow instead: where it leaves the normal transitions, if it does
    at.radio(key="workflow_judge").set_value("the workflow's transitions").run()
    assert not at.exception, at.exception
    ov = overlay(wf, analysis.grouped.sessions.sessions[analysis.session_index(sid)])
    if ov.divergence is None:
        assert "Every transition" in at.info[0].value
    else:
        assert f"Diverges at position {ov.divergence.position}" in at.error[0].value
        for k, p in ov.divergence.expected:
            assert f"`{name(k)}` {p:.3f}" in at.error[0].value
    # choosing another session here is what Inspect shows next
    other = S["session_id"].iloc[0]
    at.selectbox(key="workflow_session").select(other).run()
    assert at.session_state["inspect_session"] == other


def test_rare_transitions_and_threshold(app, truth):
    _, wf = truth
    at = app()
    before = at.selectbox(key="workflow_node").options
    at.toggle(key="workflow_rare").set_value(True).run()
    assert not at.exception, at.exception
    options = at.selectbox(key="workflow_node").options      # the nodes' labels
    rare = wf.simplified(keep_rare=True).graph
    assert {d["label"] for _, d in rare.nodes(data=True)} <= set(options)
    assert len(options) >= len(before)
    at.slider(key="workflow_min_p").set_value(0.3).run()
    assert not at.exception, at.exception


# -- the drawing -------------------------------------------------------------------------

def sessions_of(*patterns):
    out = []
    for keys, n in patterns:
        out += [Session(f"s{len(out) + i}", list(keys), 0) for i in range(n)]
    return out


@pytest.fixture(scope="module")
def small():
    """A B C D mostly, B repeating sometimes, and A straight to D sometimes."""
    return build_workflow(sessions_of(("ABCD", 40), ("ABBCD", 10), ("AD", 10)),
                          {"A": "open <*>", "B": "read <*>", "C": "check <*>", "D": "close <*>"})


def trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_figure_has_a_point_per_node_and_a_line_per_edge(small):
    view = small.simplified()
    fig = view_figure(view)
    nodes = trace(fig, "nodes")
    assert list(nodes.customdata) == list(view.graph) and len(nodes.x) == view.graph.number_of_nodes()
    edges = [(u, v) for u, v in view.graph.edges if u != v]
    assert sorted(t.name for t in fig.data if t.name.startswith("edge:")) == sorted(f"edge:{u}→{v}" for u, v in edges)
    # widths grow with probability; back edges curve, straight edges do not
    width = {t.name: t.line.width for t in fig.data if t.name.startswith("edge:")}
    p = {f"edge:{u}→{v}": d["probability"] for u, v, d in view.graph.edges(data=True) if u != v}
    hi, lo = max(p, key=p.get), min(p, key=p.get)
    assert width[hi] > width[lo]
    # the self-loop is a badge with its probability, the templates are in the hover text
    b = list(view.graph).index(view.node_of("B"))
    assert f"↻ {small.simplified().graph.edges[view.node_of('B'), view.node_of('B')]['probability']:.2f}" in nodes.text[b]
    assert "read &lt;*&gt;" in nodes.hovertext[b]
    assert not any(t.name == "off-workflow keys" for t in fig.data)


def test_overlay_colours_the_divergence(small):
    view = small.simplified()
    ov = overlay(small, Session("x", ["A", "B", "Z", "D"], 1))   # Z: never seen
    assert ov.divergence.key == "Z"
    fig = view_figure(view, ov.project(view))
    nodes, extra = trace(fig, "nodes"), trace(fig, "off-workflow keys")
    assert list(extra.customdata) == ["Z"] and extra.marker.color[0] == OFF
    colors = dict(zip(nodes.customdata, nodes.marker.color))
    assert colors[view.node_of("B")] == LAST_NORMAL
    assert dict(zip(nodes.customdata, nodes.marker.line.color))[START] == PATH
    names = {t.name: t for t in fig.data}
    off = names[f"off:{view.node_of('B')}→Z"]
    assert off.line.color == OFF and off.line.dash == "dash"
    assert names[f"path:{START}→{view.node_of('A')}"].line.color == PATH
    assert any(n.startswith("expected:") and t.line.color == EXPECTED and t.line.dash == "dash"
               for n, t in names.items())
    texts = " ".join(a.text for a in fig.layout.annotations)
    for k, p in ov.divergence.expected:
        assert f"{name(k)} {p:.2f}" in texts or f"{name(k)} {p:.2f}" in " ".join(nodes.text)
    # a click on a node names it; a click on anything else names nothing
    i = list(fig.data).index(extra)
    assert node_at(fig, {"curve_number": i, "point_index": 0}) == "Z"
    assert node_at(fig, {"curve_number": i, "point_index": 0, "customdata": "Z"}) == "Z"
    assert node_at(fig, {"curve_number": 0, "point_index": 3}) is None


def test_overlay_with_a_verdict_and_an_unexpected_end(small):
    view = small.simplified()
    keys = ["A", "B"]
    events = [EventVerdict(0, "A", 1, 0.9, [("A", 0.9)], False, None),
              EventVerdict(1, "B", 1, 0.8, [("B", 0.8), ("D", 0.2)], False, None),
              EventVerdict(2, "<eos>", 3, 0.01, [("C", 0.7), ("B", 0.29)], True, "unexpected_end")]
    ov = overlay(small, Session("y", keys, 1), SessionVerdict("y", 1, True, 2, events))
    assert ov.divergence.key == END and ov.divergence.expected == [("C", 0.7), ("B", 0.29)]
    fig = view_figure(view, ov.project(view))
    nodes = trace(fig, "nodes")
    colors = dict(zip(nodes.customdata, nodes.marker.color))
    assert colors[END] == OFF and colors[view.node_of("B")] == LAST_NORMAL
    shown = " ".join(a.text for a in fig.layout.annotations) + " ".join(nodes.text)
    assert "0.70" in shown and "0.29" in shown


def test_groups_are_drawn_apart():
    wf = build_workflow(sessions_of(("ABCD", 30), ("ACBD", 20)))
    view = wf.simplified()
    nodes = trace(view_figure(view), "nodes")
    symbols = dict(zip(nodes.customdata, nodes.marker.symbol))
    groups = [n for n, d in view.graph.nodes(data=True) if d["kind"] == "group"]
    assert groups and all(symbols[g] == "hexagon" for g in groups)
    assert {symbols[START], symbols[END]} == {"circle"}
