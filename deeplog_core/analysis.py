"""One model over one dataset: every event's verdict as a table, for the timeline and
inspect views (and anyone with pandas).

The log-key model scores every event of every session (batched, each distinct history
once); the parameter-value model, when the model has one, scores every event's values.
An event is anomalous by its key, by its values, or both (`kind`). The end of a session
is an event too (key ``<eos>``, at the time of the session's last line), because "the
block stopped here" is what most HDFS anomalies look like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from .artifacts import DeepLogModel
from .detect import REASONS, Scores, SessionVerdict, score_sessions
from .grouping import UNKNOWN, GroupedLog
from .parsing import LogParser
from .sessions import Session, SessionSet
from .vocab import EOS, UNK
from .workflow import END

LANE_FIELDS = ("Component", "Node", "Process", "Program", "Level")


@dataclass
class Analysis:
    grouped: GroupedLog            # the dataset's events, keyed by the model's templates
    scores: Scores
    values: Optional[object]       # params.ValueScores, when the model has a value model
    events: pd.DataFrame           # one row per scored event (see analyse)
    sessions: pd.DataFrame         # one row per session
    g: int
    seconds: float

    def verdict(self, i: int) -> SessionVerdict:
        return self.scores.verdict(i, self.g)

    def session_index(self, session_id: str) -> int:
        hits = np.flatnonzero(self.sessions["session_id"].to_numpy() == session_id)
        if not len(hits):
            raise KeyError(session_id)
        return int(hits[0])

    def value_events(self, i: int) -> list:
        """The value verdicts of session i's events, in order (empty without a value model)."""
        return self.values.session_events(i) if self.values is not None else []

    def lines(self, i: int) -> pd.DataFrame:
        """Session i's raw lines in order, with each line's verdict."""
        rows = self.events[self.events["session"] == i]
        return rows[rows["key"] != END]


def rekey(grouped: GroupedLog, model: DeepLogModel) -> GroupedLog:
    """The dataset's events keyed by the model's own templates (when it has them and
    they differ): the same line must mean the same key to the model that scores it."""
    if not model.parser_state:
        return grouped
    parser = LogParser.from_state(model.parser_state)
    if parser.templates == grouped.sessions.templates:
        return grouped
    keys = [parser.match(e.content) if e.matched_format or e.content else None for e in grouped.events]
    events = [type(e)(e.line_no, e.raw, e.headers, e.content, k, parser.templates.get(k, ""),
                      parser.parameters(k, e.content) if k else [], e.timestamp, e.matched_format)
              for e, k in zip(grouped.events, keys)]
    sessions = [Session(s.id, [events[i].key or UNKNOWN for i in m], s.label)
                for s, m in zip(grouped.sessions.sessions, grouped.members)]
    ss = grouped.sessions
    return GroupedLog(events, SessionSet(sessions, parser.templates, ss.source, ss.format), grouped.members)


def lane_field(grouped: GroupedLog) -> Optional[str]:
    headers = grouped.events[0].headers if grouped.events else {}
    return next((f for f in LANE_FIELDS if f in headers), None)


def analyse(model: DeepLogModel, grouped: GroupedLog, param_model=None,
            num_candidates: Optional[int] = None) -> Analysis:
    start = time.perf_counter()
    grouped = rekey(grouped, model)
    g = num_candidates or model.config.num_candidates
    sessions = grouped.sessions.sessions
    scores = score_sessions(model, sessions, num_candidates=g)
    key_flag = scores.event_anomalous(g)
    counts = np.diff(scores.offsets)
    session = np.repeat(np.arange(len(sessions)), counts)
    position = scores.position
    # each scored row's line: the event itself, or the session's last line for its end
    event_idx = np.concatenate([np.asarray(m + [m[-1]] * (c - len(m)), dtype=np.int64) if m else
                                np.full(c, -1, dtype=np.int64)
                                for m, c in zip(grouped.members, counts)]) if len(counts) else np.zeros(0, np.int64)
    is_end = scores.target == EOS
    ev = grouped.events
    lane = lane_field(grouped)
    ts = np.array([np.nan if e.timestamp is None else e.timestamp for e in ev] + [np.nan], dtype=float)
    line_no = np.array([e.line_no for e in ev] + [-1], dtype=np.int64)
    lanes = np.array([e.headers.get(lane, "") if lane else "" for e in ev] + [""], dtype=object)
    templates = grouped.sessions.templates
    vocab = model.vocab
    keys = np.array([vocab.key_of(t) if t not in (UNK,) else None for t in scores.target], dtype=object)
    if (scores.target == UNK).any():  # the actual key of unknown events, from the session
        for j in np.flatnonzero(scores.target == UNK):
            keys[j] = sessions[session[j]].keys[position[j]]
    reason = np.where(scores.target == UNK, "unknown_key",
                      np.where(is_end, "unexpected_end", "unexpected_key")).astype(object)
    reason[~key_flag] = ""
    values = None
    value_flag = np.zeros(len(key_flag), dtype=bool)
    if param_model is not None:
        values = param_model.score(grouped)
        per_event = np.append(values.anomalous, False)
        value_flag = per_event[np.where(is_end, -1, event_idx)]
    kind = np.where(key_flag & value_flag, "both", np.where(key_flag, "key",
                    np.where(value_flag, "value", ""))).astype(object)
    frame = pd.DataFrame({
        "session": session, "session_id": np.array([s.id for s in sessions], dtype=object)[session],
        "position": position, "event": event_idx, "line_no": line_no[event_idx],
        "timestamp": ts[event_idx], "lane": lanes[event_idx], "key": keys,
        "template": [templates.get(k, "end of session" if k == END else "") for k in keys],
        "rank": np.where(scores.target == UNK, -1, scores.rank), "probability": scores.probability,
        "key_anomaly": key_flag, "value_anomaly": value_flag, "anomalous": key_flag | value_flag,
        "reason": reason, "kind": kind,
    })
    frame["time"] = pd.to_datetime(frame["timestamp"], unit="s", errors="coerce")
    grouped_by = frame.groupby("session", sort=True)
    first = frame[frame["anomalous"]].groupby("session").first()
    summary = pd.DataFrame({
        "session_id": [s.id for s in sessions],
        "label": [s.label for s in sessions],
        "events": [len(s.keys) for s in sessions],
        "anomalous": grouped_by["anomalous"].any().reindex(range(len(sessions)), fill_value=False).to_numpy(),
        "key_anomalies": grouped_by["key_anomaly"].sum().reindex(range(len(sessions)), fill_value=0).to_numpy(),
        "value_anomalies": grouped_by["value_anomaly"].sum().reindex(range(len(sessions)), fill_value=0).to_numpy(),
        "start": grouped_by["time"].min().reindex(range(len(sessions))).to_numpy(),
        "end": grouped_by["time"].max().reindex(range(len(sessions))).to_numpy(),
    })
    summary["first_anomaly"] = first["position"].reindex(range(len(sessions))).to_numpy()
    summary["first_key"] = first["key"].reindex(range(len(sessions))).to_numpy()
    summary["why"] = [REASONS.get(r, "parameter values out of range" if k == "value" else "")
                      if isinstance(r, str) else ""
                      for r, k in zip(first["reason"].reindex(range(len(sessions))),
                                      first["kind"].reindex(range(len(sessions))))]
    return Analysis(grouped, scores, values, frame, summary, g, time.perf_counter() - start)


def session_records(scores: Scores, grouped: Optional[GroupedLog], values=None, g: Optional[int] = None,
                    indices: Optional[list[int]] = None) -> list[dict]:
    """JSON-ready verdicts of the scored sessions (`indices`: their places in `grouped`,
    default 0..n-1): every event with its raw line when known and, with a value model,
    its value verdict and whether it is anomalous by key, values or both."""
    from .params import event_kind

    indices = list(range(len(scores))) if indices is None else indices
    records = []
    for i, verdict in zip(indices, scores.verdicts(g)):
        record = verdict.to_dict()
        if grouped is not None:
            members = grouped.members[i]
            for event in record["events"]:
                if event["position"] < len(members):
                    idx = members[event["position"]]
                    src = grouped.events[idx]
                    event["line_no"], event["content"] = src.line_no, src.content
                    if values is not None:
                        event["values"] = values.events[idx].to_dict()
                        event["kind"] = event_kind(event["anomalous"], values.events[idx].anomalous)
                elif values is not None:
                    event["kind"] = event_kind(event["anomalous"], False)
            if values is not None:
                record["value_anomaly"] = values.session_anomalous[i]
                record["anomalous"] = record["anomalous"] or record["value_anomaly"]
        records.append(record)
    return records
