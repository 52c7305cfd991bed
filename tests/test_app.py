"""The dashboard, driven by Streamlit's AppTest: it opens on real results."""

import pytest
from streamlit.testing.v1 import AppTest

from conftest import REPO


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("workspace")


def test_demo_opens_with_anomalies_and_candidates(workspace, monkeypatch):
    monkeypatch.setenv("DEEPLOG_WORKSPACE", str(workspace))
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=240).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sessions"] == "1,256"
    flagged = int(metrics["Anomalous"].replace(",", ""))
    assert 100 <= flagged <= 160           # ~124 true anomalies are visible to any sequence model
    assert float(metrics["Precision vs labels"]) >= 0.9
    table = at.dataframe[0].value
    assert len(table) == flagged and set(table["reason"]) <= {"unexpected_key", "unexpected_end", "unknown_key"}
    # inspecting a session shows its events, with the flagged one and its candidates
    first = table["session"].iloc[0]
    at.selectbox(key="inspect_session").select(first).run()
    assert not at.exception
    events = at.dataframe[1].value
    assert events["anomalous"].any()
    assert any("expected one of these" in m.value for m in at.markdown)
    assert (workspace / "models" / "demo" / "config.json").is_file()


def test_train_page_starts_a_job_and_shows_its_progress(workspace, monkeypatch):
    import time
    monkeypatch.setenv("DEEPLOG_WORKSPACE", str(workspace))
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    at.number_input[4].set_value(3)          # epochs
    at.selectbox[1].select("cpu")
    at.button[0].click().run()
    assert not at.exception, at.exception
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        labels = {m.label: m.value for m in at.metric}
        if any(s.value.startswith("Job 1: succeeded") for s in at.subheader):
            break
        time.sleep(1)
    assert any(s.value.startswith("Job 1: succeeded") for s in at.subheader), [s.value for s in at.subheader]
    assert labels.get("Epoch") == "3 / 3"
    assert (workspace / "models" / "job-1" / "config.json").is_file()
    assert len(at.dataframe[0].value) == 1 and at.dataframe[0].value["status"].iloc[0] == "succeeded"
