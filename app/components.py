"""Widgets shared by the pages. Pages lay out; the library computes."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from deeplog_core.demo import demo_data, demo_model
from deeplog_core.store import workspace_dir


@st.cache_resource(show_spinner="Training the demo model on the bundled HDFS sample…")
def cached_demo_model():
    return demo_model(workspace_dir())


@st.cache_resource
def job_runner():
    from deeplog_core.jobs import JobRunner
    from deeplog_core.store import Store

    ws = workspace_dir()
    return JobRunner(Store(ws / "deeplog.db"), ws / "jobs")


@st.cache_data(show_spinner=False)
def cached_demo_data():
    return demo_data()


def sidebar_status(dataset: str, model_label: str) -> None:
    with st.sidebar:
        st.caption("Workspace")
        st.markdown(f"**{workspace_dir().name}**")
        st.caption("Dataset")
        st.markdown(f"**{dataset}**")
        st.caption("Model")
        st.markdown(f"**{model_label}**")


def candidate_chart(event, title: str) -> go.Figure:
    keys = [k for k, _ in event.candidates]
    probs = [p for _, p in event.candidates]
    colors = ["#2e7d32" if k == event.key else "#90a4ae" for k in keys]
    fig = go.Figure(go.Bar(x=probs, y=keys, orientation="h", marker_color=colors))
    fig.update_layout(title=title, height=60 + 28 * len(keys), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"), xaxis_title="probability")
    return fig


def events_frame(verdict, templates: dict) -> pd.DataFrame:
    return pd.DataFrame([{
        "position": e.position, "key": e.key, "template": templates.get(e.key, ""),
        "rank": e.rank, "probability": e.probability, "anomalous": e.anomalous,
        "reason": e.reason or "", "top candidates": ", ".join(k for k, _ in e.candidates[:5]),
    } for e in verdict.events])
