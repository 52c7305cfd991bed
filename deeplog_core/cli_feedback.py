"""``deeplog label``, ``deeplog update`` and ``deeplog models``: the feedback loop.

An analyst labels what a model flagged (false positive, confirmed anomaly), an update
fine-tunes the model on the labels into a new version, and the registry keeps every
version: list, activate, roll back. Registered in cli.build_parser.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .config import UpdateConfig
from .errors import ConfigError
from .progress import ProgressFile


def dataset_key(path: str) -> str:
    """How labels name a dataset: a workspace dataset by its name (``dataset:NAME``),
    a file by its absolute path, s3:// as is."""
    if path.startswith("dataset:"):
        return path.split(":", 1)[1]
    return path if path.startswith("s3://") else str(Path(path).resolve())


def _store(args):
    from .store import Store, workspace_dir

    db = Path(args.db) if args.db else workspace_dir() / "deeplog.db"
    return Store(db)


def _registry(store):
    from .registry import ModelRegistry

    return ModelRegistry(store, store.path.parent / "models")


def cmd_label(args) -> int:
    from .labels import LabelStore

    labels = LabelStore(_store(args))
    if args.label_command == "add":
        label = labels.add(args.dataset or dataset_key(args.data), args.session, args.verdict,
                           position=args.position, key=args.key, model_version=args.model_version,
                           note=args.note or "")
        print(json.dumps(label.to_dict()))
        return 0
    dataset = args.dataset or (dataset_key(args.data) if args.data else None)
    rows = labels.all(dataset) if args.all else labels.effective(dataset)
    for label in rows:
        if args.json:
            print(json.dumps(label.to_dict()))
        else:
            where = "session" if label.position is None else f"event {label.position} ({label.key})"
            print(f"{label.id:>5}  {label.verdict:<18} {label.session_id}  {where}  "
                  f"flagged by {label.model_version or '?'}  {label.note}")
    return 0


def cmd_update(args) -> int:
    from .artifacts import load_model, prepare_model_dir, save_model
    from .cli import load_input
    from .labels import LabelStore
    from .update import update_model

    store = _store(args)
    registry = _registry(store)
    model = load_model(args.model_dir, "cpu")
    parent = registry.by_path(args.model_dir)
    if parent is None and not args.out:
        raise ConfigError(f"{args.model_dir} is not in the model registry: give --out DIR for the "
                          "updated model, or register it first (deeplog models register)")
    dataset = args.dataset or dataset_key(args.data)
    labels = LabelStore(store).effective(dataset)
    if not labels:
        raise ConfigError(f"no labels for dataset {dataset}; add some with deeplog label add")
    data, ingested = load_input(args, args.data, model)
    replay_path = args.replay or model.data.get("source")
    if not replay_path:
        raise ConfigError("--replay PATH (the model's normal training sessions) is required: "
                          "the model does not record where its training data came from")
    replay, _ = load_input(args, replay_path, model)
    config = UpdateConfig(max_epochs=args.max_epochs, lr=args.lr, replay=args.replay_per_label,
                          seed=args.seed)
    out_dir = prepare_model_dir(args.out) if args.out else None
    progress = ProgressFile(args.progress_file)

    def on_epoch(record: dict) -> None:
        progress.write(record)
        if not args.quiet:
            print(f"update epoch {record['epoch']}: {record['fp_flagged']} of {record['fp_windows']} "
                  "labelled windows still flagged", file=sys.stderr)

    try:
        updated, report = update_model(model, labels, data.sessions,
                                       [s for s in replay.sessions if s.label != 1], config,
                                       templates=data.templates, on_epoch=on_epoch)
    finally:
        progress.close()
    values, accepted = _update_value_model(args.model_dir, ingested, labels)
    updated.metrics["update"]["value_events_accepted"] = accepted
    report.value_events_accepted = accepted
    if out_dir is not None:
        save_model(updated, out_dir)
        if values is not None:
            values.save(out_dir)
    version = None
    if parent is not None:
        v = registry.register(out_dir if out_dir is not None else updated, parent.name,
                              parent=parent.version, dataset=dataset, kind="update",
                              activate=not args.no_activate)
        if out_dir is None and values is not None:
            values.save(v.path)
        version = v.version
        LabelStore(store).mark_used([l.id for l in labels], version)
    print(json.dumps({"version": version, "model_dir": str(out_dir) if out_dir else registry.get(version).path,
                      **{k: v for k, v in report.to_dict().items() if k != "skipped"},
                      "skipped": [f"label {i}: {why}" for i, why in report.skipped]}))
    return 0


def _update_value_model(model_dir, ingested, labels):
    """The value model's part of an update: false-positive labels on value anomalies
    raise their key's accepted error. (value model or None, number of events accepted)."""
    from .labels import FALSE_POSITIVE
    from .params import accept_false_positives, load_param_model

    values = load_param_model(model_dir)
    if values is None or ingested is None:
        return values, 0
    grouped = ingested.grouped
    scores = values.score(grouped)
    where = {s.id: i for i, s in enumerate(grouped.sessions.sessions)}
    chosen = []
    for label in labels:
        i = where.get(label.session_id)
        if label.verdict != FALSE_POSITIVE or i is None:
            continue
        members = grouped.members[i]
        positions = range(len(members)) if label.position is None else [label.position]
        chosen += [scores.events[members[p]] for p in positions if p < len(members)]
    chosen = [e for e in chosen if e.anomalous]
    values, _ = accept_false_positives(values, chosen)
    return values, len(chosen)


def cmd_models(args) -> int:
    registry = _registry(_store(args))
    if args.models_command == "list":
        for v in registry.list(args.name):
            if args.json:
                print(json.dumps(v.to_dict()))
                continue
            m = v.metrics
            fpr = m.get("val_session_flag_rate")
            print(f"{'*' if v.active else ' '} {v.version:<24} {v.kind:<7} parent {v.parent or '-':<20} "
                  f"val flag rate {fpr if fpr is not None else '-'}  {v.path}")
        return 0
    if args.models_command == "register":
        v = registry.register(args.model_dir, args.name, dataset=args.dataset or "", kind="import",
                              activate=not args.no_activate)
    elif args.models_command == "activate":
        v = registry.activate(args.version)
    else:
        v = registry.rollback(args.name)
    print(json.dumps(v.to_dict()))
    return 0


def add_parsers(sub, format_arg) -> None:
    db_help = "state database (default: $DEEPLOG_WORKSPACE/deeplog.db)"
    p = sub.add_parser("label", help="label what a model flagged: false positive or confirmed anomaly")
    lsub = p.add_subparsers(dest="label_command", required=True)
    a = lsub.add_parser("add", help="add a label (a newer label on the same event supersedes it)")
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", help="the dataset the session is in (its path)")
    where.add_argument("--dataset", help="the dataset's name in the workspace")
    a.add_argument("--session", required=True, help="session id, e.g. blk_-1608999687919862906")
    a.add_argument("--position", type=int, default=None,
                   help="the event's position in the session (default: the whole session)")
    a.add_argument("--key", default=None, help="the log key at that event (recorded with the label)")
    a.add_argument("--verdict", required=True, choices=("false_positive", "confirmed_anomaly"))
    a.add_argument("--model-version", default=None, help="the model version that flagged it")
    a.add_argument("--note", default="")
    ls = lsub.add_parser("list", help="the labels in effect (newest per event)")
    ls.add_argument("--data")
    ls.add_argument("--dataset")
    ls.add_argument("--all", action="store_true", help="every label ever written, superseded ones too")
    ls.add_argument("--json", action="store_true")
    for q in (a, ls):
        q.add_argument("--db", help=db_help)

    u = sub.add_parser("update", help="fine-tune a model on the labels of a dataset: a new version")
    u.add_argument("--model-dir", required=True, help="the model to update (left unchanged)")
    u.add_argument("--data", required=True, help="the labelled dataset (sessions or raw logs)")
    u.add_argument("--dataset", help="the dataset's name in the workspace (default: the --data path)")
    u.add_argument("--replay", help="normal training sessions to replay (default: the model's own)")
    u.add_argument("--out", help="write the new model here (default: the registry's next version)")
    u.add_argument("--no-activate", action="store_true", help="register the new version inactive")
    d = UpdateConfig()
    u.add_argument("--max-epochs", type=int, default=d.max_epochs)
    u.add_argument("--lr", type=float, default=d.lr)
    u.add_argument("--replay-per-label", type=int, default=d.replay)
    u.add_argument("--seed", type=int, default=d.seed)
    u.add_argument("--progress-file", help="append one JSON line per epoch")
    u.add_argument("--quiet", action="store_true")
    u.add_argument("--db", help=db_help)
    format_arg(u)

    m = sub.add_parser("models", help="the model registry: list, register, activate, rollback")
    msub = m.add_subparsers(dest="models_command", required=True)
    ml = msub.add_parser("list")
    ml.add_argument("--name", help="one lineage only")
    ml.add_argument("--json", action="store_true")
    mr = msub.add_parser("register", help="add a model directory as the next version of NAME")
    mr.add_argument("--model-dir", required=True)
    mr.add_argument("--name", required=True)
    mr.add_argument("--dataset", default="")
    mr.add_argument("--no-activate", action="store_true")
    ma = msub.add_parser("activate")
    ma.add_argument("version", help="e.g. hdfs-v2")
    mb = msub.add_parser("rollback", help="activate the parent of NAME's active version")
    mb.add_argument("name")
    for q in (ml, mr, ma, mb):
        q.add_argument("--db", help=db_help)


COMMANDS = {"label": cmd_label, "update": cmd_update, "models": cmd_models}
