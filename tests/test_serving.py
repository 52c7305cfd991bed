import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deeplog_core import DataFormatError, input_fn, model_fn, output_fn, predict_fn


def test_handlers_end_to_end(saved_model):
    model = model_fn(str(saved_model))
    body = json.dumps({"sessions": [{"id": "ok", "keys": ["A", "B", "C", "D", "E"]},
                                    {"id": "bad", "keys": ["A", "B", "C", "Z"]}]})
    data = input_fn(body.encode(), "application/json; charset=utf-8")
    prediction = predict_fn(data, model)
    out = json.loads(output_fn(prediction, "application/json"))
    ok, bad = out["sessions"]
    assert out["num_candidates"] == 2
    assert (ok["session_id"], ok["anomalous"]) == ("ok", False)
    assert (bad["session_id"], bad["anomalous"], bad["first_anomaly"]) == ("bad", True, 3)
    event = bad["events"][3]
    assert event["reason"] == "unknown_key" and event["rank"] is None
    assert [c["key"] for c in ok["events"][3]["candidates"]] and "probability" in ok["events"][3]["candidates"][0]


def test_request_shapes_and_overrides(saved_model):
    model = model_fn(str(saved_model))
    single = input_fn('{"keys": ["A", "B"], "num_candidates": 1}')
    assert len(single["sessions"]) == 1 and single["num_candidates"] == 1
    assert predict_fn(single, model)["num_candidates"] == 1
    bare = input_fn('[["A", "B"], [1, 2]]')
    assert [s.keys for s in bare["sessions"]] == [["A", "B"], ["1", "2"]]
    lines = output_fn(predict_fn(bare, model), "application/jsonlines").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["session_id"] == "0"


@pytest.mark.parametrize("body,content_type,fragment", [
    ("{}", "text/csv", "unsupported content type"),
    (b"\xff\xfe", "application/json", "not UTF-8"),
    ("{", "application/json", "not valid JSON"),
    ("42", "application/json", "object or a list"),
    ('{"foo": 1}', "application/json", "needs 'sessions', 'keys' or 'lines'"),
    ('{"lines": []}', "application/json", "non-empty list of strings"),
    ('{"lines": ["a", 3]}', "application/json", "non-empty list of strings"),
    ('{"lines": ["a"], "session_by": "window:x"}', "application/json", "not a number of seconds"),
    ('{"lines": ["a"], "session_by": 5}', "application/json", "'session_by' must be a string"),
    ("\n\n", "text/plain", "no log line"),
    ('{"sessions": []}', "application/json", "non-empty list"),
    ('{"sessions": [5]}', "application/json", "expected a list of log keys"),
    ('{"sessions": [[1.5]]}', "application/json", "string or an integer"),
    ('{"sessions": [[true]]}', "application/json", "string or an integer"),
    ('{"sessions": [["a b"]]}', "application/json", "not a valid log key"),
    ('{"sessions": [{"id": [1], "keys": []}]}', "application/json", "id must be"),
    ('{"sessions": [{"nokeys": 1}]}', "application/json", "needs a 'keys' list"),
    ('{"keys": ["A"], "num_candidates": 0}', "application/json", "positive integer"),
    ("[" * 100000 + "]" * 100000, "application/json", "nested too deeply|not valid JSON"),
])
def test_malformed_requests_get_a_clear_error(body, content_type, fragment):
    with pytest.raises(DataFormatError, match=fragment):
        input_fn(body, content_type)


def test_output_fn_rejects_unknown_accept():
    with pytest.raises(DataFormatError, match="unsupported accept"):
        output_fn({"sessions": []}, "text/html")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["sessions", "keys", "id", "num_candidates", "x"]), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), json_values.map(json.dumps)))
def test_fuzzed_bodies_never_crash_input_fn(body):
    try:
        data = input_fn(body, "application/json")
    except DataFormatError as exc:
        assert str(exc)
    else:
        assert data["sessions"] and all(isinstance(k, str) for s in data["sessions"] for k in s.keys)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(["A", "B", "C", "D", "E", "F", "Q", "7"]), max_size=12),
                min_size=1, max_size=5))
def test_any_valid_request_gets_a_verdict_per_event(saved_model, sessions):
    model = model_fn(str(saved_model))
    prediction = predict_fn(input_fn(json.dumps({"sessions": sessions})), model)
    for keys, verdict in zip(sessions, prediction["sessions"]):
        assert len(verdict["events"]) == len(keys) + 1       # every key and the end
        unknown = [k for k in keys if k in ("Q", "7")]
        if unknown:
            assert verdict["anomalous"]


@pytest.fixture(scope="module")
def raw_model_dir(tmp_path_factory):
    """A model trained on raw HDFS lines (key model + value model), through the CLI."""
    import subprocess
    import sys
    from conftest import ASSETS

    d = tmp_path_factory.mktemp("raw")
    r = subprocess.run([sys.executable, "-m", "deeplog_core.cli", "train", "--format", "raw",
                        "--train", str(ASSETS / "HDFS_5k.log"), "--labels", str(ASSETS / "anomaly_label.csv"),
                        "--model-dir", str(d), "--epochs", "15", "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return d


def test_raw_log_lines_are_parsed_grouped_and_scored_by_both_models(raw_model_dir):
    from conftest import ASSETS

    model = model_fn(str(raw_model_dir))
    assert model.value_model is not None
    lines = (ASSETS / "HDFS_5k.log").read_text().splitlines()[:600]
    for body, ctype in ((json.dumps({"lines": lines}), "application/json"), ("\n".join(lines), "text/plain")):
        out = json.loads(output_fn(predict_fn(input_fn(body, ctype), model)))
        assert out["lines"] == 600 and out["sessions"]
        first = out["sessions"][0]
        assert first["session_id"].startswith("blk_") and "value_anomaly" in first
        event = first["events"][0]
        assert event["line_no"] == 1 and event["content"].startswith("Receiving block")
        assert event["values"]["status"] in ("normal", "anomaly", "not_modelled", "no_values")
        assert event["kind"] in (None, "key", "value", "both")
    # an unmatched line is an unknown key, never a crash
    out = predict_fn(input_fn(json.dumps({"lines": ["081109 203518 143 INFO dfs.X: quite new blk_42 text"]})), model)
    assert out["sessions"][0]["events"][0]["reason"] == "unknown_key"


def test_raw_lines_to_a_model_of_key_files_say_why(saved_model):
    with pytest.raises(DataFormatError, match="trained on session files"):
        predict_fn(input_fn('{"lines": ["x blk_1"]}'), model_fn(str(saved_model)))
