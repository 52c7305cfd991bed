"""Widgets and caches shared by the pages. Pages lay out; the library computes.

Session state the pages share:
  dataset          the dataset name being looked at
  model_version    the model version scoring it (default: its lineage's active one)
  inspect_session  the session id Inspect (and Workflows) show
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import plotly.graph_objects as go
import streamlit as st

from deeplog_core.analysis import Analysis, analyse
from deeplog_core.demo import DEMO_DATASET, DEMO_MODEL, Workspace, ensure_demo
from deeplog_core.errors import DeepLogError
from deeplog_core.store import workspace_dir


@st.cache_resource(show_spinner="Opening the demo workspace: parsing the bundled HDFS sample and "
                                 "training its model (first start only)…")
def _workspace(path: str) -> Workspace:
    ws, _, _ = ensure_demo(Path(path))
    return ws


def workspace() -> Workspace:
    return _workspace(str(workspace_dir()))


@st.cache_resource
def _job_runner(path: str):
    from deeplog_core.jobs import JobRunner

    ws = _workspace(path)
    return JobRunner(ws.store, ws.path / "jobs")


def job_runner():
    """The job runner of the current workspace (one per workspace folder)."""
    return _job_runner(str(workspace_dir()))


@st.cache_resource(max_entries=6, show_spinner="Loading the dataset…")
def cached_dataset(name: str, created: float):
    return workspace().datasets.load(name)


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def cached_model(version: str, path: str):
    """(log-key model, parameter-value model or None), cached per version."""
    from deeplog_core.artifacts import load_model
    from deeplog_core.params import load_param_model

    return load_model(path, device="cpu"), load_param_model(path)


@st.cache_resource(max_entries=6, show_spinner="Scoring every event…")
def cached_analysis(dataset: str, created: float, version: str, path: str, g: int) -> Analysis:
    model, values = cached_model(version, path)
    return analyse(model, cached_dataset(dataset, created).grouped, values, g)


def sidebar() -> None:
    """The workspace, dataset and model version pickers. Drawn by main.py before the
    page runs, so the choice holds across pages. A page that wants to change the choice
    after they are drawn sets "dataset_request" / "model_version_request" and reruns."""
    ws = workspace()
    names = [d.name for d in ws.datasets.list()]
    versions = ws.registry.list()
    labels = {v.version: f"{v.version}{' (active)' if v.active else ''}" for v in versions}
    for key in ("dataset", "model_version"):
        request = st.session_state.pop(f"{key}_request", None)
        if request is not None:
            st.session_state[key] = request
    if st.session_state.get("dataset") not in names:
        st.session_state["dataset"] = DEMO_DATASET if DEMO_DATASET in names else names[0]
    if st.session_state.get("model_version") not in labels:
        active = ws.registry.active(DEMO_MODEL) or next((v for v in versions if v.active), versions[-1])
        st.session_state["model_version"] = active.version
    with st.sidebar:
        st.caption("Workspace")
        st.markdown(f"**{ws.path.name}**")
        st.selectbox("Dataset", names, key="dataset")
        st.selectbox("Model version", list(labels), key="model_version", format_func=labels.get)


def current() -> tuple[Workspace, object, object]:
    """(workspace, DatasetInfo, Version) the sidebar has chosen."""
    ws = workspace()
    return ws, ws.datasets.get(st.session_state["dataset"]), ws.registry.get(st.session_state["model_version"])


def current_analysis(g: Optional[int] = None) -> tuple[Workspace, object, object, Analysis]:
    ws, info, version = current()
    model, _ = cached_model(version.version, version.path)
    analysis = cached_analysis(info.name, info.created, version.version, version.path,
                               int(g or model.config.num_candidates))
    return ws, info, version, analysis


def show_error(exc: Exception) -> None:
    """A message the user can act on, never a stack trace."""
    if isinstance(exc, DeepLogError):
        st.error(str(exc))
    else:
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}")


def candidate_chart(event, title: str) -> go.Figure:
    keys = [k for k, _ in event.candidates]
    probs = [p for _, p in event.candidates]
    colors = ["#2e7d32" if k == event.key else "#90a4ae" for k in keys]
    fig = go.Figure(go.Bar(x=probs, y=keys, orientation="h", marker_color=colors,
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_layout(title=title, height=80 + 26 * len(keys), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"), xaxis_title="probability")
    return fig


KIND_COLORS = {"key": "#c62828", "value": "#ef6c00", "both": "#6a1b9a"}  # anomaly: by key / values / both
