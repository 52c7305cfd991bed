"""How fast the dashboard answers, measured with Streamlit's AppTest (the real app,
no browser): the first open (demo workspace built from scratch), each page and
interaction on the bundled sample, and the timeline of a 100k-event dataset (the
sample's 5,000 lines repeated 20 times with fresh block ids, one minute apart), cold
(parse cache empty: scoring included) and warm. Targets: an interaction under 1 s on the
sample, a 100k-event timeline under 3 s. Baseline in the same run: the sample's timeline.
"""

import os
import re
import tempfile
import time
from pathlib import Path

from common import REPO, emit

from streamlit.testing.v1 import AppTest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 3)


def big_log(path: Path, copies: int = 20) -> Path:
    lines = (REPO / "assets" / "HDFS_5k.log").read_text().splitlines()
    with open(path, "w") as fh:
        for c in range(copies):
            for line in lines:
                # 081109 203518 ... : shift the minute, give every block a new id
                line = re.sub(r"blk_(-?)(\d+)", lambda m: f"blk_{m.group(1)}{m.group(2)}{c:02d}", line)
                fh.write(line[:9] + f"{int(line[9:11]) + c:02d}" + line[11:] + "\n")
    return path


def main():
    ws = Path(tempfile.mkdtemp())
    os.environ["DEEPLOG_WORKSPACE"] = str(ws)
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=600)
    _, first_open = timed(at.run)
    assert not at.exception, at.exception
    figures = {"bench": "app_speed", "first_open_s": first_open}
    steps = {
        "timeline": lambda: at.switch_page("app_pages/timeline.py").run(),
        "timeline_filter_kind": lambda: at.multiselect(key="tl_kinds").select("value").run(),
        "open_in_inspect": lambda: at.button(key="tl_inspect").click().run(),
        "inspect_other_event": lambda: at.selectbox(key=at.selectbox[1].key).select(
            at.selectbox[1].options[1]).run(),
        "workflows": lambda: at.switch_page("app_pages/workflows.py").run(),
        "models": lambda: at.switch_page("app_pages/models.py").run(),
        "data": lambda: at.switch_page("app_pages/data.py").run(),
        "train": lambda: at.switch_page("app_pages/train.py").run(),
    }
    sample = {}
    for name, step in steps.items():
        _, sample[name] = timed(step)
        assert not at.exception, (name, at.exception)
    figures["sample_interaction_s"] = sample
    figures["sample_slowest_s"] = max(sample.values())

    from deeplog_core.datasets import DatasetSpec
    from deeplog_core.demo import Workspace
    from deeplog_core.sources import LocalFileSource

    log = big_log(ws / "hdfs_100k_lines.log")
    workspace = Workspace.open(ws)
    info, parse_s = timed(lambda: workspace.datasets.create("big", LocalFileSource(log),
                                                            DatasetSpec(str(log), preset="HDFS")))
    figures["big_dataset"] = {"lines": info.stats["lines"], "sessions": info.stats["sessions"],
                              "parse_and_save_s": parse_s}
    at.switch_page("app_pages/timeline.py").run()
    at.session_state["dataset_request"] = "big"
    _, cold = timed(at.run)
    assert not at.exception, at.exception
    events = next(m.value for m in at.metric if m.label == "Anomalous events")
    _, warm = timed(at.run)
    at.session_state["dataset_request"] = "hdfs-sample"
    at.run()
    _, baseline = timed(at.run)
    figures.update(big_timeline_cold_s=cold, big_timeline_warm_s=warm, sample_timeline_warm_s=baseline,
                   big_over_sample_warm=round(warm / baseline, 2) if baseline else None,
                   big_anomalous_events=events)
    print(figures)
    emit(figures)


if __name__ == "__main__":
    main()
