"""Workflows: the normal workflow graph of the dataset (DeepLog §4.3), one session's path
drawn on it with where it diverged, and any node's templates, frequency and examples."""

from collections import Counter

import streamlit as st

from components import current_analysis, show_error
from deeplog_core.detect import REASONS
from deeplog_core.errors import DeepLogError
from deeplog_core.workflow import END, START, build_workflow, overlay, to_dot, to_json
from workflow_chart import node_at, view_figure

MAX_SESSIONS = 5000  # in the session picker


@st.cache_resource(max_entries=6, show_spinner="Building the normal workflow…")
def normal_workflow(dataset: str, created: float, version: str, _analysis):
    """(workflow of the sessions neither labelled anomalous nor flagged by the model,
    the first 3 event indices of each key, each key's occurrences in the dataset)."""
    summary, ss = _analysis.sessions, _analysis.grouped.sessions
    keep = ((summary["label"] != 1) & ~summary["anomalous"].astype(bool)).to_numpy()
    normal = [s for s, k in zip(ss.sessions, keep) if k]
    if not normal:
        raise DeepLogError(f"Dataset {dataset} has no session that is neither labelled anomalous "
                           f"nor flagged by model {version}: no normal workflow to draw.")
    examples, counts = {}, Counter()
    for i, e in enumerate(_analysis.grouped.events):
        if e.key:
            counts[e.key] += 1
            if counts[e.key] <= 3:
                examples.setdefault(e.key, []).append(i)
    return build_workflow(normal, ss.templates), examples, counts


def name(n: str) -> str:
    return {START: "START", END: "END"}.get(n, n)


def divergence_text(ov, row, templates, by_model: bool) -> str:
    dv = ov.divergence
    if dv is None:
        off = len(ov.off_graph)
        text = ("The model accepts every log key of this session (each is among its top-g predictions)."
                if by_model else "Every transition of this session is in the normal workflow.")
        if by_model and row["value_anomalies"] > 0:
            text += (f" It is flagged by its **parameter values** (first at position "
                     f"{int(row['first_anomaly'])}, key `{row['first_key']}`): see Inspect.")
        if off:
            text += f" {off} of its transitions are not in the normal workflow (red dashed)."
        return text

    def key(k):
        tpl = (templates.get(k) or "").replace("`", "'")
        return f"`{name(k)}`" + (f" (`{tpl}`)" if tpl else "")

    last = "the start of the session" if dv.last_normal == START else key(dv.last_normal)
    if dv.key == END or dv.reason == "unexpected_end":
        saw = "the session **ends**"
    elif dv.reason == "unknown_key":
        saw = f"**{key(dv.key)}**, {REASONS['unknown_key'] if by_model else 'a key no normal session has'},"
    else:
        saw = f"**{key(dv.key)}**"
    who = "the model" if by_model else "the workflow"
    expected = ", ".join(f"`{name(k)}` {p:.3f}" for k, p in dv.expected) or "nothing"
    return (f"**Diverges at position {dv.position}** (of {len(ov.path) - 2} events): the last normal "
            f"step reached {last}; then came {saw} where {who} expected {expected}.")


def node_details(n, view, wf, examples, counts, templates, grouped, visits):
    d = view.graph.nodes[n] if n in view.graph else None
    keys = [] if n in (START, END) else d["keys"] if d else [n]
    kind = {"group": "a concurrent group (its keys in any order)", "chain": "a chain (its keys in sequence)",
            "start": "the start of a session", "end": "the end of a session"}.get(d["kind"] if d else "", "")
    st.markdown(f"**{d['label'] if d else n}**" + (f": {kind}" if kind else "")
                + ("" if d else ": not in the normal workflow view")
                + (f" · this session visits it {visits[n]}×" if n in visits else ""))
    rows = []
    for k in keys:
        g = wf.graph.nodes[k] if k in wf.graph else {}
        rows.append({"key": k, "template": templates.get(k, ""), "occurrences": g.get("count", 0),
                     "normal sessions": g.get("sessions", 0),
                     "share": f"{g.get('sessions', 0) / wf.sessions:.1%}",
                     "typical ×": g.get("multiplicity", 0), "in dataset": counts.get(k, 0)})
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    if d:
        nxt = ", ".join(f"{name(v)} {p['probability']:.2f}" for v, p in view.graph[n].items()) or "—"
        prv = ", ".join(name(u) for u in view.graph.predecessors(n)) or "—"
        st.caption(f"Entered {d['count']:,} times in {wf.sessions:,} normal sessions · next: {nxt} · "
                   f"from: {prv}" + (" · a new task begins here" if d.get("boundary") else ""))
    for k in keys:
        lines = [grouped.events[i].raw for i in examples.get(k, [])]
        st.markdown(f"Example lines of `{k}`:" if lines else f"No line of `{k}` in this dataset.")
        if lines:
            st.code("\n".join(lines), language=None, wrap_lines=True)


st.title("Workflows")
try:
    ws, info, version, analysis = current_analysis()
    wf, examples, counts = normal_workflow(info.name, info.created, version.version, analysis)
except Exception as exc:
    show_error(exc)
    st.stop()

summary, templates = analysis.sessions, analysis.grouped.sessions.templates
st.caption(f"The normal workflow of **{info.name}**, built from its {wf.sessions:,} sessions (of "
           f"{len(summary):,}) that are not labelled anomalous and that model **{version.version}** "
           "does not flag. Hover a node for its templates; click it (or choose it below) for its "
           "frequency and example lines.")

ranked = summary.assign(key_flag=summary["key_anomalies"] > 0, labelled=summary["label"] == 1).sort_values(
    ["anomalous", "key_flag", "labelled"], ascending=False, kind="stable")
labels = dict(zip(ranked["session_id"], [("⚠ " if a else "") + s + ("  (labelled anomaly)" if l == 1 else "")
                                         for s, a, l in zip(ranked["session_id"], ranked["anomalous"],
                                                            ranked["label"])]))
order = ranked["session_id"].tolist()[:MAX_SESSIONS]   # flagged ones first
wanted = st.session_state.get("inspect_session")
if wanted in labels and wanted not in order:
    order.append(wanted)
if wanted in labels and wanted != st.session_state.get("_workflow_synced"):
    st.session_state["workflow_session"] = wanted
st.session_state["_workflow_synced"] = wanted
if st.session_state.get("workflow_session") not in order:
    st.session_state["workflow_session"] = order[0]


def _picked():
    sid = st.session_state["workflow_session"]
    st.session_state["inspect_session"] = st.session_state["inspect_request"] = sid
    st.session_state["_workflow_synced"] = sid


c1, c2, c3, c4 = st.columns([3, 2, 2, 1.4])
sid = c1.selectbox("Session", order, key="workflow_session", format_func=labels.get, on_change=_picked,
                   help=None if len(order) >= len(labels) else
                   f"The first {MAX_SESSIONS:,} of {len(labels):,} sessions, flagged ones first.")
judge = c2.radio("Divergence by", ["the model's verdict", "the workflow's transitions"], horizontal=True,
                 key="workflow_judge")
p_min = c3.slider("Min transition probability", 0.0, 0.5, float(wf.params["min_probability"]), 0.01,
                  key="workflow_min_p")
keep_rare = c4.toggle("Show rare (grey)", key="workflow_rare")

try:
    i = analysis.session_index(sid)
    by_model = judge == "the model's verdict"
    ov = overlay(wf, analysis.grouped.sessions.sessions[i], analysis.verdict(i) if by_model else None)
    view = wf.simplified(min_probability=p_min, keep_rare=keep_rare)
    proj = ov.project(view)
    fig = view_figure(view, proj)
except Exception as exc:
    show_error(exc)
    st.stop()

(st.error if ov.divergence else st.info)(divergence_text(ov, summary.iloc[i], templates, by_model))
event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="workflow_chart", width="stretch")
st.caption("Blue: this session's path (×n: taken n times) · red dashed: transitions not in the normal "
           "workflow, red-bordered: keys it lacks · orange: the last normal step · red: the unexpected "
           "key (or END) · green dashed: what was expected, with its probability · ↻ p: a repeat · "
           "blue hexagon: concurrent keys · light square: a chain · grey dotted: rare.")

options = list(view.graph) + [n for n in proj["unknown"] if n not in view.graph]
try:
    points = list(event["selection"]["points"])
except (KeyError, TypeError):
    points = []
clicked = next((n for n in (node_at(fig, p) for p in points) if n in options), None)
if clicked != st.session_state.get("_workflow_clicked"):
    st.session_state["_workflow_clicked"] = clicked
    if clicked is not None:
        st.session_state["workflow_node"] = clicked
if st.session_state.get("workflow_node") not in options:
    st.session_state["workflow_node"] = None
node = st.selectbox("Node", options, index=None, key="workflow_node", placeholder="Click a node, or choose one",
                    format_func=lambda n: view.graph.nodes[n]["label"] if n in view.graph else f"{n} (not in workflow)")
if node is not None:
    node_details(node, view, wf, examples, counts, templates, analysis.grouped, proj["visits"])

d1, d2, d3 = st.columns([1, 1, 2])
stem = f"workflow-{info.name}-{sid}"
d1.download_button("Download DOT", to_dot(view, ov), f"{stem}.dot", "text/vnd.graphviz", key="workflow_dot")
d2.download_button("Download JSON", to_json(view, ov, indent=2), f"{stem}.json", "application/json",
                   key="workflow_json")
if d3.button("Inspect this session", key="workflow_inspect"):
    st.session_state["inspect_session"] = st.session_state["inspect_request"] = sid
    st.switch_page("app_pages/inspect.py")
