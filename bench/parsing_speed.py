"""Template mining throughput on HDFS: our parser against plain Drain3, same run.

Input: the bundled 5k raw HDFS lines repeated to N lines (default 1,000,000), streamed
from a generator so neither side holds the input. Both run the header split and then
mining with the logpai HDFS settings (no extra masks, so the templates must come out
identical). Peak traced memory of our parser at N/5 and N lines shows whether it stays
flat in the input size.
"""

import itertools
import sys
import time
import tracemalloc

from common import REPO, emit

from deeplog_core.parsing import LogParser, ParserConfig, drain3_miner
from deeplog_core.presets import PRESETS

LINES = (REPO / "assets" / "HDFS_5k.log").read_text().splitlines()


def stream(n: int):
    return itertools.islice(itertools.cycle(LINES), n)


def run_drain3(n: int):
    p = PRESETS["HDFS"]
    splitter = LogParser(ParserConfig.from_preset("HDFS", common_masks=False))
    miner = drain3_miner(p.regexes, p.sim_th, p.depth)
    for line in stream(n):
        miner.add_log_message(splitter.split(line)[1])
    return sorted(c.get_template() for c in miner.drain.clusters)


def run_ours(n: int):
    parser = LogParser(ParserConfig.from_preset("HDFS", common_masks=False)).fit(stream(n))
    return sorted(parser.templates.values())


def timed(fn, n):
    t0 = time.perf_counter()
    out = fn(n)
    return out, time.perf_counter() - t0


def peak_mb(fn, n):
    tracemalloc.start()
    fn(n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 2)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    drain_templates, drain_s = timed(run_drain3, n)
    our_templates, our_s = timed(run_ours, n)
    figures = {
        "bench": "parsing_speed", "lines": n,
        "drain3_lines_per_s": round(n / drain_s), "ours_lines_per_s": round(n / our_s),
        "speedup": round(drain_s / our_s, 2),
        "identical_templates": drain_templates == our_templates, "templates": len(our_templates),
        "ours_peak_mb_at_n_over_5": peak_mb(run_ours, n // 5), "ours_peak_mb_at_n": peak_mb(run_ours, n),
    }
    print(f"drain3 {figures['drain3_lines_per_s']:,} lines/s, ours {figures['ours_lines_per_s']:,} "
          f"lines/s: {figures['speedup']}x, identical templates: {figures['identical_templates']}")
    emit(figures)


if __name__ == "__main__":
    main()
