"""Grouping accuracy (Zhu et al., ICSE-SEIP 2019) on the 11 loghub 2k systems.

A line is parsed right when the set of lines sharing its template equals the set sharing
its ground-truth template. Side by side, in the same run and on the same header split:
plain Drain3 configured as the logpai benchmark does (its regexes, similarity threshold
and depth), and our parser (the same preset plus the library's common masks).
"""

import csv
import statistics
from collections import defaultdict

from common import REPO, emit

from deeplog_core.parsing import LogParser, ParserConfig, drain3_miner
from deeplog_core.presets import PRESETS

DATA = REPO / "tests" / "data" / "loghub_2k"
SYSTEMS = ["Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "Linux", "OpenStack", "Spark",
           "Windows", "Zookeeper"]


def grouping_accuracy(truth: list, predicted: list) -> float:
    truth_groups, predicted_groups = defaultdict(set), defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted)):
        truth_groups[t].add(i)
        predicted_groups[p].add(i)
    correct = 0
    for lines in predicted_groups.values():
        labels = {truth[i] for i in lines}
        if len(labels) == 1 and truth_groups[labels.pop()] == lines:
            correct += len(lines)
    return correct / len(truth)


def load(system: str):
    folder = DATA / system
    lines = (folder / f"{system}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
    with open(folder / f"{system}_2k.log_structured.csv", encoding="utf-8", errors="replace") as fh:
        truth = [row["EventId"] for row in csv.DictReader(fh)]
    return lines[: len(truth)], truth


def plain_drain3(system: str, contents: list[str]) -> list:
    p = PRESETS[system]
    miner = drain3_miner(p.regexes, p.sim_th, p.depth)
    ids = [miner.add_log_message(c)["cluster_id"] for c in contents]
    final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
    return [final[i] for i in ids]


def ours(system: str, lines: list[str]) -> list:
    parser = LogParser(ParserConfig.from_preset(system)).fit(lines)
    return [e.template or e.content for e in parser.parse(lines)]


def main():
    table = {}
    for system in SYSTEMS:
        lines, truth = load(system)
        splitter = LogParser(ParserConfig.from_preset(system))
        contents = [splitter.split(ln)[1] for ln in lines]
        table[system] = {"drain3": round(grouping_accuracy(truth, plain_drain3(system, contents)), 4),
                         "ours": round(grouping_accuracy(truth, ours(system, lines)), 4)}
        print(f"{system:>10}: drain3 {table[system]['drain3']:.3f}   ours {table[system]['ours']:.3f}",
              flush=True)
    avg = {k: round(statistics.mean(v[k] for v in table.values()), 4) for k in ("drain3", "ours")}
    print(f"{'average':>10}: drain3 {avg['drain3']:.3f}   ours {avg['ours']:.3f}")
    emit({"bench": "parsing_accuracy", "systems": table, "average": avg,
          "ours_at_least_drain3_everywhere": all(v["ours"] >= v["drain3"] for v in table.values())})


if __name__ == "__main__":
    main()
