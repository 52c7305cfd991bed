"""Overview: the demo workspace scored by the log-key model, anomalies first."""

import pandas as pd
import plotly.express as px
import streamlit as st

from components import (candidate_chart, cached_demo_data, cached_demo_model, events_frame,
                        sidebar_status)
from deeplog_core import evaluate_scores, score_sessions
from deeplog_core.detect import REASONS

model = cached_demo_model()
train_set, dev = cached_demo_data()
sidebar_status("HDFS sample (hdfs_100k dev)", f"demo · trained {model.created}")

st.title("DeepLog: where HDFS blocks left the normal path")
scores = score_sessions(model, dev.sessions)
flags = scores.session_anomalous()
metrics = evaluate_scores(scores)

c1, c2, c3, c4 = st.columns(4)
c1.metric("Sessions", f"{len(dev):,}")
c2.metric("Anomalous", f"{int(flags.sum()):,}", help=f"{flags.mean():.1%} of sessions")
c3.metric("Precision vs labels", f"{metrics['precision']:.3f}")
c4.metric("Recall vs labels", f"{metrics['recall']:.3f}")

rows = []
for i in flags.nonzero()[0]:
    v = scores.verdict(int(i))
    e = v.events[v.first_anomaly]
    rows.append({"session": v.session_id, "label": "anomaly" if v.label else "normal",
                 "events": len(dev.sessions[i].keys), "first anomaly at": v.first_anomaly,
                 "key": e.key, "reason": e.reason})
table = pd.DataFrame(rows)

left, right = st.columns([1, 2])
with left:
    by_reason = table.groupby("reason").size().reset_index(name="sessions")
    fig = px.bar(by_reason, x="reason", y="sessions", color="reason", title="Why sessions were flagged")
    fig.update_layout(showlegend=False, height=320)
    st.plotly_chart(fig, use_container_width=True)
with right:
    fig = px.histogram(table, x="first anomaly at", color="label", nbins=40,
                       title="Where in the session the first anomaly happened")
    fig.update_layout(height=320)
    st.plotly_chart(fig, use_container_width=True)

st.subheader("Anomalous sessions")
st.dataframe(table, use_container_width=True, hide_index=True, height=260)

choice = st.selectbox("Inspect a session", table["session"].tolist(), key="inspect_session")
if choice:
    index = next(i for i, s in enumerate(dev.sessions) if s.id == choice)
    verdict = scores.verdict(index)
    event = verdict.events[verdict.first_anomaly]
    st.markdown(f"**{choice}**: event {event.position} is `{event.key}` "
                f"({REASONS[event.reason]}); the model expected one of these:")
    a, b = st.columns([1, 2])
    with a:
        st.plotly_chart(candidate_chart(event, f"Top-{len(event.candidates)} candidates"),
                        use_container_width=True)
    with b:
        st.dataframe(events_frame(verdict, model.templates), hide_index=True,
                     use_container_width=True)
