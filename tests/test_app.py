"""The dashboard, driven by Streamlit's AppTest: the demo opens on real results, and the
journey timeline -> inspect -> label -> update -> new version works page by page."""

import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO
from deeplog_core import load_model
from deeplog_core.demo import DEMO_DATASET, Workspace
from deeplog_core.labels import LabelStore

KNOWN = "blk_-3544583377289625738"   # a labelled anomaly the demo model flags


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("workspace")


def app(workspace, monkeypatch, timeout=240) -> AppTest:
    monkeypatch.setenv("DEEPLOG_WORKSPACE", str(workspace))
    return AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=timeout)


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_demo_opens_on_a_timeline_with_real_anomalies(workspace, monkeypatch):
    at = app(workspace, monkeypatch).run()
    assert not at.exception, at.exception
    m = metrics(at)
    assert m["Sessions"] == "626"
    ws = Workspace.open(workspace)
    from deeplog_core.analysis import analyse
    from deeplog_core.params import load_param_model
    v = ws.registry.active(DEMO_DATASET)
    truth = analyse(ws.registry.load(v.version), ws.datasets.load(DEMO_DATASET).grouped, load_param_model(v.path))
    assert int(m["Anomalous sessions"]) == int(truth.sessions["anomalous"].sum()) >= 3
    assert int(m["Anomalous events"]) == int(truth.events["anomalous"].sum())
    table = at.dataframe[0].value
    assert KNOWN in set(table["session"]) and len(table) == int(m["Anomalous sessions"])
    assert at.sidebar.selectbox[0].value == DEMO_DATASET and at.sidebar.selectbox[1].value == "hdfs-sample-v1"
    # a filter on the anomaly kind changes the counts to that kind
    at.multiselect(key="tl_kinds").select("value").run()
    assert int(metrics(at)["Anomalous events"]) == int((truth.events["kind"] == "value").sum())


def test_choosing_an_anomaly_opens_inspect_with_its_candidates(workspace, monkeypatch):
    at = app(workspace, monkeypatch).run()
    at.selectbox(key="tl_open").select(KNOWN).run()
    at.button(key="tl_inspect").click().run()
    assert not at.exception, at.exception
    assert at.header[0].value == f"Session {KNOWN}"
    assert metrics(at)["Verdict"] == "anomalous" and metrics(at)["Ground-truth label"] == "anomaly"
    lines = at.dataframe[0].value
    assert len(lines) > 200 and lines["raw line"].str.contains(KNOWN.replace("blk_", "")).all()
    assert any("Event" in md.value for md in at.markdown)
    # another event: its own candidates and values
    at.selectbox(key=f"inspect_event_{KNOWN}").select(1).run()
    assert not at.exception and any(md.value.startswith("**Event 1**") for md in at.markdown)


def test_a_false_positive_label_is_stored_and_an_update_makes_a_new_version(workspace, monkeypatch):
    at = app(workspace, monkeypatch).run()
    normal_flagged = next(r for _, r in at.dataframe[0].value.iterrows() if r["label"] == "normal")
    sid = normal_flagged["session"]
    at.selectbox(key="tl_open").select(sid).run()
    at.button(key="tl_inspect").click().run()
    at.button(key="label_false_positive").click().run()
    assert not at.exception, at.exception
    assert any("Saved: false positive" in s.value for s in at.success)
    labels = LabelStore(Workspace.open(workspace).store).effective(DEMO_DATASET)
    assert [(l.session_id, l.verdict, l.model_version) for l in labels] == [(sid, "false_positive", "hdfs-sample-v1")]
    assert labels[0].position == int(normal_flagged["first at"])

    at.switch_page("app_pages/models.py").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["session"].tolist() == [sid]
    at.button(key="start_update").click().run()
    deadline = time.time() + 180
    while time.time() < deadline:
        at.run()
        if any(s.value.startswith("New version") for s in at.success) or at.error:
            break
        time.sleep(1)
    assert not at.error, [e.value for e in at.error]
    assert any("hdfs-sample-v2" in s.value for s in at.success)
    at.run()
    assert at.sidebar.selectbox[1].value == "hdfs-sample-v2"
    versions = at.dataframe[1].value
    assert list(versions["version"]) == ["hdfs-sample-v1", "hdfs-sample-v2"]
    assert versions["active"].tolist() == ["", "●"] and versions["parent"].tolist() == ["", "hdfs-sample-v1"]
    before, after = versions[f"flagged on {DEMO_DATASET}"].tolist()
    events_before, events_after = versions["anomalous events"].tolist()
    assert after <= before and events_after < events_before
    # the labelled event itself is no longer anomalous under v2
    from deeplog_core.analysis import analyse
    from deeplog_core.params import load_param_model
    ws = Workspace.open(workspace)
    v2 = ws.registry.get("hdfs-sample-v2")
    a2 = analyse(ws.registry.load(v2.version), ws.datasets.load(DEMO_DATASET).grouped, load_param_model(v2.path))
    ev = a2.events
    row = ev[(ev["session_id"] == sid) & (ev["position"] == labels[0].position)].iloc[0]
    assert not row["anomalous"]
    # roll back, then the timeline shows v1's verdicts again
    at.button(key="rollback").click().run()
    assert at.sidebar.selectbox[1].value == "hdfs-sample-v1"
    at.switch_page("app_pages/timeline.py").run()
    assert int(metrics(at)["Anomalous sessions"]) == before


def test_train_page_starts_a_job_on_a_workspace_dataset_and_shows_progress(workspace, monkeypatch):
    at = app(workspace, monkeypatch, timeout=120)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    at.text_input[0].set_value("sample-small")
    at.number_input[4].set_value(2)          # LSTMs averaged
    at.number_input[5].set_value(3)          # epochs
    at.button[0].click().run()
    assert not at.exception, at.exception
    deadline = time.time() + 150
    while time.time() < deadline:
        at.run()
        if any(re.match(r"Job \d+: (succeeded|failed|cancelled)", s.value) for s in at.subheader):
            break
        time.sleep(1)
    assert any(s.value.startswith("Job ") and s.value.endswith(": succeeded") for s in at.subheader), \
        [s.value for s in at.subheader] + [e.value for e in at.error]
    assert metrics(at).get("Epoch") == "3 / 3"
    # two LSTMs, one after the other: the bar ends on the second one's last epoch
    bars = [(p.proto.value, p.proto.text) for p in at.get("progress")]
    assert (100, "member 2/2 · epoch 3/3") in bars, bars
    active = Workspace.open(workspace).registry.active("sample-small")
    assert active.version == "sample-small-v1"
    assert load_model(active.path, "cpu").config.members == 2
    assert any("sample-small-v1" in s.value for s in at.success)
