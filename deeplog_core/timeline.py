"""What the timeline shows, as plain pandas: filters, time buckets, the anomalous
sessions table. Kept out of the page so it is tested (and fast) without a browser."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd

MAX_BACKGROUND_POINTS = 20_000   # normal events drawn as context; anomalies are always all drawn


def filter_events(events: pd.DataFrame, window=None, lanes: Sequence[str] = (),
                  keys: Sequence[str] = (), kinds: Sequence[str] = ()) -> pd.DataFrame:
    """Events within a (start, end) time window, lanes and keys; with kinds, only the
    anomalies of those kinds (plus every normal event, as context)."""
    mask = np.ones(len(events), dtype=bool)
    if window is not None:
        start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
        t = events["time"]
        mask &= (t.isna() | ((t >= start) & (t <= end))).to_numpy()
    if lanes:
        mask &= events["lane"].isin(list(lanes)).to_numpy()
    if keys:
        mask &= events["key"].isin(list(keys)).to_numpy()
    view = events[mask]
    if kinds:
        view = view[~view["anomalous"] | view["kind"].isin(list(kinds))]
        view = view.assign(anomalous=view["anomalous"] & view["kind"].isin(list(kinds)))
    return view


def buckets(view: pd.DataFrame, target: int = 60) -> pd.DataFrame:
    """Events and anomalies per time bucket (about `target` buckets over the range)."""
    timed = view[view["time"].notna()]
    if timed.empty:
        return pd.DataFrame({"bucket": [], "events": [], "anomalies": []})
    span = (timed["time"].max() - timed["time"].min()).total_seconds()
    step = max(1, int(np.ceil(span / target))) if span > 0 else 1
    bucket = timed["time"].dt.floor(f"{step}s")
    out = timed.assign(bucket=bucket).groupby("bucket").agg(events=("anomalous", "size"),
                                                            anomalies=("anomalous", "sum"))
    return out.reset_index()


def normal_sample(view: pd.DataFrame, limit: int = MAX_BACKGROUND_POINTS) -> pd.DataFrame:
    """The normal events to draw behind the anomalies: all of them, or an even sample."""
    normal = view[~view["anomalous"] & view["time"].notna()]
    if len(normal) <= limit:
        return normal
    return normal.iloc[np.linspace(0, len(normal) - 1, limit).astype(int)]


def anomalous_sessions(analysis, view: Optional[pd.DataFrame] = None) -> pd.DataFrame:
    """One row per session with an anomaly in `view`: where, why, and its label."""
    view = analysis.events if view is None else view
    bad = view[view["anomalous"]]
    if bad.empty:
        return pd.DataFrame(columns=["session", "label", "events", "anomalies", "first at", "key",
                                     "kind", "why", "start"])
    first = bad.groupby("session").first()
    n = bad.groupby("session").size()
    summary = analysis.sessions.iloc[first.index]
    from .detect import REASONS

    label = summary["label"].map({0: "normal", 1: "anomaly"}).fillna("unlabelled")
    return pd.DataFrame({
        "session": summary["session_id"].to_numpy(), "label": label.to_numpy(),
        "events": summary["events"].to_numpy(), "anomalies": n.to_numpy(),
        "first at": first["position"].to_numpy(), "key": first["key"].to_numpy(),
        "kind": first["kind"].to_numpy(),
        "why": [REASONS.get(r, "parameter values out of range") for r in first["reason"]],
        "start": summary["start"].to_numpy(),
    }).sort_values(["start", "session"], na_position="last").reset_index(drop=True)
