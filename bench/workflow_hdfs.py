"""Workflow graphs (DeepLog §4.3) of HDFS: what comes out, and how fast.

Builds the workflow of the bundled HDFS sample's training blocks and of the paper's
hdfs_train, prints the readable view (nodes, groups, loops, task boundaries), times
building, simplifying and overlaying every dev block, and times building on the sample
repeated 50 times (the builder works on distinct sequences, so this shows the cost of
counting, not of the patterns).
"""

import time

from common import DEEPLOG, emit, hdfs_100k, peak_rss_mb

from deeplog_core import read_sessions
from deeplog_core.workflow import build_workflow, overlay


def describe(name, wf):
    view = wf.simplified()
    print(f"\n{name}: {wf}")
    for n, d in view.graph.nodes(data=True):
        print(f"  [{d['layer']}] {n:9s} {d['label']:32s} boundary={d['boundary']} loops={d['loops']}")
    for u, v, d in view.graph.edges(data=True):
        print(f"      {u} -> {v}  p={d['probability']:.3f}{'  (back)' if d['back'] else ''}")
    return view


def main():
    train, dev = hdfs_100k()
    t0 = time.perf_counter()
    wf = build_workflow(train)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    view = describe("HDFS 100k sample", wf)
    simplify_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    overlays = [overlay(wf, s) for s in dev.sessions]
    overlay_s = time.perf_counter() - t0
    flagged = [o.divergence is not None for o in overlays]
    labels = [s.label == 1 for s in dev.sessions]
    tp = sum(f and y for f, y in zip(flagged, labels))
    fp = sum(f and not y for f, y in zip(flagged, labels))

    big = train.sessions * 50
    t0 = time.perf_counter()
    build_workflow(big)
    big_s = time.perf_counter() - t0

    paper = build_workflow(read_sessions(DEEPLOG / "hdfs_train"))
    paper_view = describe("paper's hdfs_train", paper)

    emit({
        "bench": "workflow_hdfs", "train_sessions": len(train), "keys": wf.graph.number_of_nodes() - 2,
        "transitions": wf.graph.number_of_edges(), "groups": [g.keys for g in wf.groups],
        "loops": [lp.keys for lp in wf.loops], "view_nodes": view.graph.number_of_nodes(),
        "boundaries": [(b.node, b.kind) for b in wf.boundaries],
        "build_s": round(build_s, 4), "simplify_s": round(simplify_s, 4),
        "overlay_per_session_ms": round(1000 * overlay_s / len(dev), 4),
        # the first-order graph alone, as a detector: a diagnosis aid, not the model
        "graph_only_divergent_anomalies": tp, "graph_only_divergent_normals": fp,
        "dev_anomalies": sum(labels), "dev_normals": len(labels) - sum(labels),
        "build_s_x50": round(big_s, 3), "sessions_x50": len(big),
        "paper_groups": [g.keys for g in paper.groups], "paper_view_nodes": paper_view.graph.number_of_nodes(),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
