"""SageMaker-style inference handlers: model_fn, input_fn, predict_fn, output_fn.

Request body (application/json), any of
    {"sessions": [{"id": "blk_1", "keys": ["E5", "E22", ...]}, ...]}
    {"sessions": [["5", "22", ...], ...]}
    {"keys": ["5", "22", ...]}                       one session
    [["5", "22"], ["5", "5"]]                        a bare list of sessions
    {"lines": ["081109 203518 143 INFO ...", ...], "session_by": "id"}
                                                     raw log lines (a model trained on raw
                                                     logs): parsed with its templates, grouped
                                                     (grouping.SessionSpec syntax, default HDFS
                                                     block ids), scored by the key model and,
                                                     when it has one, the value model
or text/plain: raw log lines, one a line, grouped by the default.
Keys may be strings or integers. Optional "num_candidates" overrides g.
Every malformed body raises DataFormatError with a message naming what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

from .artifacts import DeepLogModel, load_model
from .detect import score_sessions
from .errors import ConfigError, DataFormatError
from .sessions import Session

JSON = "application/json"
JSONLINES = "application/jsonlines"
TEXT = "text/plain"
MAX_LINES = 1_000_000
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_SESSION_KEYS = 1_000_000


def model_fn(model_dir: str, device: str = "auto") -> DeepLogModel:
    """The log-key model, with its parameter-value model when the directory has one."""
    from .params import load_param_model

    model = load_model(model_dir, device=device)
    model.value_model = load_param_model(model_dir)
    return model


def _key(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataFormatError(f"{where}: a log key must be a string or an integer, got {type(value).__name__}")
    key = str(value)
    if not key or len(key) > 512 or any(c.isspace() for c in key):
        raise DataFormatError(f"{where}: {key[:40]!r} is not a valid log key (empty, too long or with spaces)")
    return key


def _session(item: Any, i: int) -> Session:
    where = f"sessions[{i}]"
    sid = str(i)
    if isinstance(item, dict):
        if "keys" not in item:
            raise DataFormatError(f"{where}: an object session needs a 'keys' list")
        if "id" in item:
            if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
                raise DataFormatError(f"{where}.id must be a string or an integer")
            sid = str(item["id"])
        item = item["keys"]
    if not isinstance(item, list):
        raise DataFormatError(f"{where}: expected a list of log keys, got {type(item).__name__}")
    if len(item) > MAX_SESSION_KEYS:
        raise DataFormatError(f"{where}: {len(item)} keys is more than the {MAX_SESSION_KEYS} allowed")
    return Session(sid, [_key(k, f"{where}[{j}]") for j, k in enumerate(item)])


def input_fn(body: bytes | str, content_type: str = JSON) -> dict:
    """Parse a request into {"sessions": [Session...], "num_candidates": int|None}."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime not in (JSON, TEXT):
        raise DataFormatError(f"unsupported content type {content_type!r}; send {JSON} or {TEXT}")
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body)
        if len(body) > MAX_BODY_BYTES:
            raise DataFormatError(f"request body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(f"request body is not UTF-8 (byte {exc.start})") from None
    elif not isinstance(body, str):
        raise DataFormatError(f"request body must be bytes or str, got {type(body).__name__}")
    if mime == TEXT:
        return _lines(body.splitlines(), "id", None)
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"request body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise DataFormatError("request body is nested too deeply") from None
    g = None
    if isinstance(doc, dict):
        g = doc.get("num_candidates")
        if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g < 1):
            raise DataFormatError("num_candidates must be a positive integer")
        if "lines" in doc:
            return _lines(doc["lines"], doc.get("session_by", "id"), g)
        if "sessions" in doc:
            items = doc["sessions"]
        elif "keys" in doc:
            items = [doc]
        else:
            raise DataFormatError("request JSON object needs 'sessions', 'keys' or 'lines'")
    elif isinstance(doc, list):
        items = doc
    else:
        raise DataFormatError(f"request JSON must be an object or a list, got {type(doc).__name__}")
    if not isinstance(items, list) or not items:
        raise DataFormatError("'sessions' must be a non-empty list")
    return {"sessions": [_session(item, i) for i, item in enumerate(items)], "num_candidates": g}


def _lines(lines: Any, session_by: Any, g) -> dict:
    if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
        raise DataFormatError("'lines' must be a non-empty list of strings (raw log lines)")
    if len(lines) > MAX_LINES:
        raise DataFormatError(f"{len(lines)} lines is more than the {MAX_LINES} allowed in one request")
    if not isinstance(session_by, str):
        raise DataFormatError("'session_by' must be a string such as 'id', 'id:REGEX' or 'window:60'")
    from .grouping import SessionSpec

    try:
        spec = SessionSpec.parse(session_by)
    except ConfigError as exc:
        raise DataFormatError(str(exc)) from None
    if not any(line.strip() for line in lines):
        raise DataFormatError("'lines' holds no log line (all are empty)")
    return {"lines": lines, "session_by": spec, "num_candidates": g}


def _predict_lines(data: dict, model: DeepLogModel, g: int) -> dict:
    from .analysis import session_records
    from .grouping import group
    from .parsing import LogParser

    if not model.parser_state:
        raise DataFormatError("this model was trained on session files, not raw logs: send "
                              "'sessions' of log keys, or use a model trained with --format raw")
    parser = LogParser.from_state(model.parser_state)
    events = list(parser.parse(data["lines"]))
    grouped = group(events, data["session_by"], parser.templates)
    scores = score_sessions(model, grouped.sessions.sessions, num_candidates=g)
    values = model.value_model.score(grouped) if model.value_model is not None else None
    return {"num_candidates": g, "lines": len(events),
            "sessions": session_records(scores, grouped, values, g)}


def predict_fn(data: dict, model: DeepLogModel) -> dict:
    """Top-g verdicts for every event of every session in the request."""
    if not isinstance(data, dict) or not ("sessions" in data or "lines" in data):
        raise DataFormatError("predict_fn expects the output of input_fn")
    g = data.get("num_candidates") or model.config.num_candidates
    if "lines" in data:
        return _predict_lines(data, model, g)
    scores = score_sessions(model, data["sessions"], num_candidates=g)
    return {"num_candidates": g, "sessions": [v.to_dict() for v in scores.verdicts(g)]}


def output_fn(prediction: dict, accept: str = JSON) -> str:
    """Serialise a prediction: JSON, or JSON lines with one session a line."""
    mime = (accept or JSON).split(";")[0].strip().lower()
    if mime in (JSON, "*/*", ""):
        return json.dumps(prediction)
    if mime == JSONLINES:
        return "".join(json.dumps(s) + "\n" for s in prediction["sessions"])
    raise DataFormatError(f"unsupported accept type {accept!r}; use {JSON} or {JSONLINES}")
