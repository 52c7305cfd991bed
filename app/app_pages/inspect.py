"""Inspect one session: its raw lines with the anomalous ones marked, each event's rank,
probability and top-g candidates, its parameter values against their expected range,
and the analyst's verdict (false positive / confirmed anomaly)."""

import pandas as pd
import streamlit as st

from components import candidate_chart, current_analysis, show_error
from deeplog_core.detect import REASONS
from deeplog_core.labels import CONFIRMED, FALSE_POSITIVE, LabelStore
from deeplog_core.vocab import EOS, RESERVED

try:
    ws, info, version, analysis = current_analysis()
except Exception as exc:
    show_error(exc)
    st.stop()

st.title("Inspect a session")
summary = analysis.sessions
order = summary.sort_values(["anomalous", "start"], ascending=[False, True])["session_id"].tolist()
# Another page asks for a session with "inspect_request"; otherwise the picker keeps
# the analyst's choice (or, coming back to this page, the last session inspected).
request = st.session_state.pop("inspect_request", None)
if request is None and "inspect_pick" not in st.session_state:
    request = st.session_state.get("inspect_session")
if request in order:
    st.session_state["inspect_pick"] = request
elif st.session_state.get("inspect_pick") not in order:
    st.session_state["inspect_pick"] = order[0]
session_id = st.selectbox("Session", order, key="inspect_pick",
                          format_func=lambda s: f"{s}  ⚠" if summary["anomalous"].iloc[analysis.session_index(s)] else s)
st.session_state["inspect_session"] = session_id
i = analysis.session_index(session_id)
row = summary.iloc[i]
verdict = analysis.verdict(i)
values = analysis.value_events(i)

label = {0: "normal", 1: "anomaly"}.get(row["label"], "unlabelled")
st.header(f"Session {session_id}")
c1, c2, c3, c4 = st.columns(4)
c1.metric("Verdict", "anomalous" if row["anomalous"] else "normal")
c2.metric("Events", int(row["events"]))
c3.metric("Anomalous events", int(row["key_anomalies"] + row["value_anomalies"]))
c4.metric("Ground-truth label", label)

lines = analysis.lines(i)
table = pd.DataFrame({
    "pos": lines["position"].to_numpy(), "line": lines["line_no"].to_numpy(),
    "time": lines["time"].dt.strftime("%H:%M:%S").to_numpy(), "key": lines["key"].to_numpy(),
    "rank": lines["rank"].to_numpy(), "p": lines["probability"].round(4).to_numpy(),
    "anomaly": lines["kind"].to_numpy(),
    "raw line": [analysis.grouped.events[e].raw for e in lines["event"]],
})
end = verdict.events[-1] if verdict.events and verdict.events[-1].key == RESERVED[EOS] else None
st.subheader("Raw lines")
st.dataframe(table.style.apply(
    lambda r: ["background-color: #ffcdd2" if r["anomaly"] else "" for _ in r], axis=1),
    hide_index=True, width="stretch", height=min(420, 38 + 35 * len(table)),
    column_config={"raw line": st.column_config.TextColumn(width="large")})
if end is not None:
    st.caption(f"End of session: p = {end.probability:.4f}"
               + (f" — **{REASONS['unexpected_end']}**" if end.anomalous else " (a normal place to end)"))

st.subheader("Why: the model's view of one event")
positions = [e.position for e in verdict.events]
flagged = [e.position for e in verdict.events if e.anomalous]
value_flagged = [j for j, v in enumerate(values) if v.anomalous]
default = min(flagged + value_flagged, default=0)   # the first anomaly, of either kind
pos = st.selectbox("Event", positions, index=positions.index(default), key=f"inspect_event_{session_id}",
                   format_func=lambda p: f"{p}: {verdict.events[p].key}" + ("  ⚠" if p in flagged or p in value_flagged else ""))
event = verdict.events[pos]
left, right = st.columns([1, 1])
with left:
    what = (f"`{event.key}` is {REASONS[event.reason]}" if event.anomalous
            else f"`{event.key}` is among the top-{analysis.g} (rank {event.rank})")
    st.markdown(f"**Event {pos}**: {what}. Template: _{analysis.grouped.sessions.templates.get(event.key, '—')}_")
    ends = any(k == RESERVED[EOS] for k, _ in event.candidates)
    title = f"Top-{analysis.g} candidates after this history" + (" (and the end of the session)" if ends else "")
    st.plotly_chart(candidate_chart(event, title),
                    width="stretch", key="inspect_candidates")
with right:
    if pos < len(values):
        v = values[pos]
        st.markdown(f"**Parameter values**: {v.status.replace('_', ' ')}"
                    + (f" (error {v.error:.2f}, threshold {v.threshold:.2f})" if v.error is not None else "")
                    + (f" — {v.reason}" if v.reason else ""))
        if v.dims:
            st.dataframe(pd.DataFrame([{
                "value": d.name, "actual": d.actual, "expected": d.predicted, "low": d.low, "high": d.high,
                "outside": d.outside} for d in v.dims]), hide_index=True, width="stretch")
    elif values:
        st.markdown("**Parameter values**: none (the end of the session)")
    else:
        st.caption("This model has no parameter-value model (it was trained on key sequences).")

st.subheader("Your verdict")
labels = LabelStore(ws.store)
scope = st.radio("Applies to", ["this event", "the whole session"], horizontal=True, key="inspect_scope")
note = st.text_input("Note (optional)", key="inspect_note")
b1, b2, _ = st.columns([1, 1, 3])
position = pos if scope == "this event" else None
for button, verdict_kind, text in ((b1, FALSE_POSITIVE, "False positive"), (b2, CONFIRMED, "Confirmed anomaly")):
    if button.button(text, key=f"label_{verdict_kind}", type="primary" if verdict_kind == FALSE_POSITIVE else "secondary"):
        try:
            labels.add(info.name, session_id, verdict_kind, position=position,
                       key=event.key if position is not None else None,
                       model_version=version.version, note=note)
            st.success(f"Saved: {text.lower()} on {'event ' + str(pos) if position is not None else 'the session'}. "
                       "Update the model on the Models page.")
        except Exception as exc:
            show_error(exc)
mine = [l for l in labels.effective(info.name) if l.session_id == session_id]
if mine:
    st.dataframe(pd.DataFrame([{"label": l.verdict.replace("_", " "),
                                "event": "session" if l.position is None else l.position, "key": l.key,
                                "flagged by": l.model_version, "note": l.note} for l in mine]),
                 hide_index=True, width="stretch")
