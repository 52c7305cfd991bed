"""Timeline: events and anomalies over time, per swim lane, with filters and the
anomalous sessions; choosing one opens it in Inspect."""

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from components import current_analysis, show_error
from components import KIND_COLORS
from deeplog_core.timeline import anomalous_sessions, buckets, filter_events, normal_sample

try:
    ws, info, version, analysis = current_analysis()
except Exception as exc:  # the sidebar is drawn; say what is wrong instead of a trace
    show_error(exc)
    st.stop()

st.title("Anomaly timeline")
st.caption(f"**{info.name}** scored by **{version.version}**: the log-key model (top-{analysis.g}) "
           "and, where the model has one, the parameter-value model.")
events = analysis.events

with st.expander("Filters", expanded=False):
    timed = events["time"].dropna()
    window = None
    if len(timed) and timed.min() < timed.max():
        lo, hi = timed.min().to_pydatetime(), timed.max().to_pydatetime()
        window = st.slider("Time range", min_value=lo, max_value=hi, value=(lo, hi), format="HH:mm:ss",
                           key="tl_time")
    c1, c2, c3 = st.columns(3)
    lanes = c1.multiselect("Lane (component)", sorted(events["lane"].unique()), key="tl_lanes")
    keys = c2.multiselect("Log key", sorted(events["key"].dropna().unique()), key="tl_keys")
    kinds = c3.multiselect("Anomaly kind", ["key", "value", "both"], key="tl_kinds")
view = filter_events(events, window, lanes, keys, kinds)
sessions = anomalous_sessions(analysis, view)

n_sessions = int(view["session"].nunique())
n_bad = len(sessions)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Sessions", f"{n_sessions:,}")
c2.metric("Anomalous sessions", f"{n_bad:,}")
c3.metric("Anomaly rate", f"{n_bad / n_sessions:.1%}" if n_sessions else "–")
c4.metric("Anomalous events", f"{int(view['anomalous'].sum()):,}", help="by key, by values, or both")

if view["time"].notna().any():
    counts = buckets(view)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.06,
                        specs=[[{}], [{"secondary_y": True}]])
    sample = normal_sample(view)
    fig.add_trace(go.Scattergl(x=sample["time"], y=sample["lane"], mode="markers", name="events",
                               marker=dict(size=4, color="rgba(120,144,156,0.25)"), hoverinfo="skip"),
                  row=1, col=1)
    bad = view[view["anomalous"]]
    for kind, color in KIND_COLORS.items():
        part = bad[bad["kind"] == kind]
        if len(part):
            fig.add_trace(go.Scattergl(
                x=part["time"], y=part["lane"], mode="markers", name=f"anomaly: {kind}",
                marker=dict(size=10, color=color, line=dict(width=1, color="white")),
                customdata=part[["session_id", "key", "reason", "line_no"]].to_numpy(),
                hovertemplate="%{customdata[0]}<br>line %{customdata[3]}: %{customdata[1]} "
                              "%{customdata[2]}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=counts["bucket"], y=counts["events"], name="events / bucket",
                         marker_color="rgba(120,144,156,0.45)"), row=2, col=1)
    fig.add_trace(go.Scatter(x=counts["bucket"], y=counts["anomalies"], name="anomalies / bucket",
                             mode="lines+markers", line=dict(color="#c62828", shape="hv")),
                  row=2, col=1, secondary_y=True)
    fig.update_layout(height=520, barmode="overlay", margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.06))
    fig.update_yaxes(title_text="lane", row=1, col=1)
    fig.update_yaxes(title_text="events", row=2, col=1, secondary_y=False)
    fig.update_yaxes(title_text="anomalies", row=2, col=1, secondary_y=True, rangemode="tozero",
                     color="#c62828", showgrid=False)
    clicked = st.plotly_chart(fig, width="stretch", key="timeline_chart", on_select="rerun",
                              selection_mode="points")
    points = clicked.selection.points if clicked else []
    hit = next((p["customdata"][0] for p in points if p.get("customdata")), None)
    if hit:  # an anomaly clicked on the chart opens its session
        st.session_state["inspect_session"] = st.session_state["inspect_request"] = hit
        st.switch_page("app_pages/inspect.py")
    st.caption("Click an anomaly to inspect its session.")
else:
    st.info("These lines carry no timestamps, so there is no time axis; the sessions are listed below.")

st.subheader("Anomalous sessions")
if sessions.empty:
    st.success("No anomalous session in this selection.")
else:
    picked = st.dataframe(sessions, hide_index=True, width="stretch", height=300,
                          on_select="rerun", selection_mode="single-row", key="tl_table")
    rows = picked.selection.rows if picked else []
    left, right = st.columns([3, 1])
    choice = left.selectbox("Open a session in Inspect", sessions["session"].tolist(), key="tl_open")
    if rows:
        choice = sessions["session"].iloc[rows[0]]
    if right.button("Inspect", type="primary", key="tl_inspect") or rows:
        st.session_state["inspect_session"] = st.session_state["inspect_request"] = choice
        st.switch_page("app_pages/inspect.py")
