"""Which choices win, measured on the paper's HDFS split (one seed per variant).

input representation  embedding (default) vs one-hot (the paper) vs scalar (the seed)
pair weighting        log (default) vs count (plain per-window loss)
session end           EOS key + min_end_probability (default) vs EOS with top-g only
                      vs no end modelling at all (what public implementations do)
"""

import dataclasses
import time

from common import emit, paper_split

from deeplog_core import ModelConfig, TrainConfig, evaluate_scores, score_sessions, train

VARIANTS = {
    "default": (ModelConfig(), TrainConfig()),
    "onehot": (ModelConfig(input_mode="onehot"), TrainConfig()),
    "scalar": (ModelConfig(input_mode="scalar"), TrainConfig()),
    "count_weighting": (ModelConfig(), TrainConfig(pair_weighting="count")),
    "no_session_end": (ModelConfig(session_end=False), TrainConfig()),
}


def main():
    train_set, held, abnormal = paper_split()
    test = held + abnormal
    table = {}
    for name, (config, tc) in VARIANTS.items():
        t0 = time.perf_counter()
        model = train(train_set, config, tc, progress=False)
        seconds = round(time.perf_counter() - t0, 1)
        models = {name: model}
        if name == "default":  # a detection-time switch: no retraining needed
            models["end_top_g_only"] = dataclasses.replace(
                model, config=dataclasses.replace(config, min_end_probability=0.0))
        for label, m in models.items():
            r = evaluate_scores(score_sessions(m, test))
            table[label] = {"fp": r["fp"], "fn": r["fn"], "recall": r["recall"], "fpr": r["fpr"],
                            "f1": r["f1"], "val_loss": model.metrics["val_loss"],
                            "train_seconds": seconds}
            print(f"{label:>16}: FP={r['fp']:3d} FN={r['fn']:5d} recall={r['recall']:.4f} "
                  f"fpr={r['fpr']:.4f} f1={r['f1']:.4f} val_loss={model.metrics['val_loss']:.4f}",
                  flush=True)
    emit({"bench": "ablation", "variants": table})


if __name__ == "__main__":
    main()
