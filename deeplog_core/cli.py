"""The ``deeplog`` command line: train, evaluate, detect, parse, jobs (and, from
cli_feedback, label, update, models; from cli_datasets, dataset).

Every failure the library anticipates (bad files, bad flags, bad model directories)
ends as one ``error: ...`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from . import cli_datasets, cli_feedback
from .artifacts import load_model, prepare_model_dir, save_model
from .config import INPUT_MODES, PAIR_WEIGHTINGS, ModelConfig, TrainConfig
from .detect import score_sessions
from .errors import ConfigError, DeepLogError
from .evaluate import evaluate_scores
from .readers import FORMATS, read_sessions
from .sessions import ANOMALY, NORMAL, SessionSet
from .distributed import teardown
from .grouping import SessionSpec
from .ingest import Ingested, ingest_once_per_node, parser_for
from .presets import PRESETS
from .progress import epoch_text
from .sources import S3Options, open_source
from .training import train
from tqdm.auto import tqdm


def _format_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS + ("raw",), default="auto",
                   help="input format (default: detected from the content; s3:// is raw)")
    raw = p.add_argument_group("raw logs (--format raw)")
    raw.add_argument("--preset", choices=sorted(PRESETS), help="log format preset (default: detected)")
    raw.add_argument("--log-format", help="custom loghub log format, e.g. '<Date> <Time> <Content>'")
    raw.add_argument("--session-by", default="id",
                     help="id[:REGEX] (default HDFS blk_ ids), field:NAME or window:SECONDS[,STEP]")
    raw.add_argument("--labels", help="session labels, loghub anomaly_label.csv (BlockId,Label)")
    _s3_args(p)


def _s3_args(p: argparse.ArgumentParser) -> None:
    s3 = p.add_argument_group("S3 (s3://bucket/prefix inputs; credentials: the standard AWS chain)")
    s3.add_argument("--s3-endpoint-url", default=None, help="S3-compatible endpoint (MinIO, ...)")
    s3.add_argument("--s3-region", default=None)
    s3.add_argument("--s3-profile", default=None)


def _s3_options(args) -> S3Options:
    return S3Options(region=args.s3_region, profile=args.s3_profile, endpoint_url=args.s3_endpoint_url)


def _is_raw(args, path: str) -> bool:
    return args.format == "raw" or str(path).startswith("s3://")


def load_input(args, path: str, model=None):
    """(SessionSet, Ingested or None) for a session file or a raw log source.

    With a model, raw lines are matched onto the model's own templates."""
    if str(path).startswith("dataset:"):
        return _workspace_dataset(args, str(path), model)
    if not _is_raw(args, path):
        return read_sessions(path, args.format), None
    if model is not None and not model.parser_state:
        raise ConfigError(f"{args.model_dir} was trained on session files, not raw logs: its keys "
                          "cannot be matched to raw lines (train it with --format raw)")
    rank = os.environ.get("RANK", "0")
    result = ingest_once_per_node(
        lambda: open_source(str(path), _s3_options(args)), _ingest_cache(args),
        log=lambda msg: print(f"[rank {rank}] {msg}", file=sys.stderr),
        name=str(path), preset=args.preset, log_format=args.log_format,
        parser_state=model.parser_state if model is not None else None,
        session_by=SessionSpec.parse(args.session_by), labels_path=args.labels)
    if not getattr(args, "quiet", False):
        print(f"parsed {result.lines} lines ({result.unmatched_format} outside the log format, "
              f"{result.replaced_lines} with undecodable bytes) into {len(result.grouped.sessions)} "
              f"sessions; preset {result.preset or 'custom'}", file=sys.stderr)
    return result.grouped.sessions, result


def _ingest_cache(args) -> Path:
    """Where the processes of one node share a parse under torchrun (ingest_once_per_node)."""
    if args.command == "train":
        return Path(args.model_dir) / ".ingest-cache"
    out = getattr(args, "out", None)
    return (Path(out).parent if out else Path(args.model_dir)) / ".ingest-cache"


def _workspace_dataset(args, spec: str, model=None):
    """A dataset saved in the workspace (``dataset:NAME``): parsed already, keyed by the
    model's templates when a model is given."""
    from .analysis import rekey
    from .demo import Workspace

    db = getattr(args, "db", None)
    ws = Workspace.open(Path(db).parent if db else None)
    dataset = ws.datasets.load(spec.split(":", 1)[1])
    grouped = rekey(dataset.grouped, model) if model is not None else dataset.grouped
    ingested = Ingested(grouped, dataset.parser, dataset.info.stats.get("preset", ""),
                        len(grouped.events), 0, 0)
    return grouped.sessions, ingested


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="fit the log-key model on normal sessions")
    # SageMaker passes data and output locations in the environment.
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAINING"),
                   help="normal training sessions (file)")
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"),
                   help="where to write the model directory")
    _format_arg(p)
    d = ModelConfig()
    t = TrainConfig()
    p.add_argument("--window-size", type=int, default=d.window_size, help="history length h")
    p.add_argument("--hidden-size", type=int, default=d.hidden_size, help="LSTM units alpha")
    p.add_argument("--num-layers", type=int, default=d.num_layers, help="LSTM layers L")
    p.add_argument("--num-candidates", type=int, default=d.num_candidates, help="top-g")
    p.add_argument("--input-mode", choices=INPUT_MODES, default=None,
                   help=f"how keys enter the LSTM (default {d.input_mode}; "
                        "--input-size 1 alone selects scalar, as in the seed)")
    p.add_argument("--input-size", type=int, default=None,
                   help="1: the key as one number (seed); N > 1: an N-d learned embedding")
    p.add_argument("--no-session-end", action="store_true",
                   help="do not model the end of a session (sessions that stop early go unseen)")
    p.add_argument("--epochs", type=int, default=t.epochs, help="maximum epochs")
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--val-fraction", type=float, default=t.val_fraction)
    p.add_argument("--patience", type=int, default=t.patience)
    p.add_argument("--pair-weighting", choices=PAIR_WEIGHTINGS, default=t.pair_weighting,
                   help="loss weight of a distinct window by its count (default log)")
    p.add_argument("--dropout", type=float, default=d.dropout, help="between LSTM layers")
    p.add_argument("--min-end-probability", type=float, default=d.min_end_probability,
                   help="the end of a session must be at least this likely (0: top-g only)")
    p.add_argument("--members", type=int, default=d.members,
                   help=f"LSTMs in the model, each trained apart and averaged (default {d.members}; "
                        "1: the paper's single LSTM)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="seed flag: the number of log keys; checked against the data")
    p.add_argument("--local", action="store_true", help="seed flag: run here (always the case)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-param-model", action="store_true",
                   help="raw logs: do not fit the parameter-value model (DeepLog 3.2)")
    p.add_argument("--register", metavar="NAME", help="add the model to the registry as NAME's next version")
    p.add_argument("--db", help="state database for --register (default: $DEEPLOG_WORKSPACE/deeplog.db)")
    p.add_argument("--resume", action="store_true",
                   help="go on from the model directory's checkpoint (automatic after a torchrun restart)")
    p.add_argument("--progress-file", help="append one JSON line per epoch here (rank 0)")
    _device_arg(p)


def _model_config(args) -> ModelConfig:
    mode = args.input_mode
    if mode is None:  # the seed's --input-size: 1 is the scalar key, N an N-d embedding
        mode = {None: ModelConfig.input_mode, 1: "scalar"}.get(args.input_size, "embedding")
    if args.input_size is not None and args.input_size < 1:
        raise ConfigError(f"--input-size must be positive, got {args.input_size}")
    embedding_dim = ModelConfig.embedding_dim
    if mode == "embedding" and args.input_size:
        embedding_dim = args.input_size
    if mode == "scalar" and args.input_size not in (None, 1):
        raise ConfigError("--input-mode scalar feeds one number: --input-size must be 1")
    return ModelConfig(window_size=args.window_size, hidden_size=args.hidden_size,
                       num_layers=args.num_layers, num_candidates=args.num_candidates,
                       input_mode=mode, embedding_dim=embedding_dim,
                       session_end=not args.no_session_end, dropout=args.dropout,
                       min_end_probability=args.min_end_probability, members=args.members)


def cmd_train(args) -> int:
    if not args.train:
        raise ConfigError("--train PATH is required")
    if not args.model_dir:
        raise ConfigError("--model-dir DIR is required")
    config = _model_config(args)
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                     val_fraction=args.val_fraction, patience=args.patience,
                     pair_weighting=args.pair_weighting, device=args.device)
    data, ingested = load_input(args, args.train)
    anomalous = [s for s in data if s.label == ANOMALY]
    if anomalous:  # a model of normal behaviour learns from normal sessions only
        data = SessionSet([s for s in data if s.label != ANOMALY], data.templates, data.source, data.format)
        print(f"left out {len(anomalous)} sessions labelled anomalous", file=sys.stderr)
        if not data.sessions:
            raise ConfigError("every training session is labelled anomalous; nothing normal to learn")
    keys = {k for s in data for k in s.keys}
    if args.num_classes is not None and len(keys) > args.num_classes:
        raise ConfigError(f"--num-classes {args.num_classes} but the training data has "
                          f"{len(keys)} distinct log keys")
    prepare_model_dir(args.model_dir)
    try:
        model = train(data.sessions, config, tc, templates=data.templates, progress=not args.quiet,
                      checkpoint_dir=args.model_dir, resume=args.resume,
                      progress_file=args.progress_file)
        if int(os.environ.get("RANK", "0")) != 0:
            return 0  # under torchrun, rank 0 alone writes the model
    finally:
        teardown()
    if ingested is not None:
        model.parser_state = ingested.parser.to_state()
    model.data["source"] = args.train if args.train.startswith("dataset:") else cli_feedback.dataset_key(args.train)
    values = None
    if ingested is not None and not args.no_param_model:
        from .params import fit_for_normal_sessions

        values = fit_for_normal_sessions(ingested.grouped)  # the parameter-value model, §3.2
        model.metrics["param_model"] = {"keys": len(values.keys_), "not_modelled": len(values.not_modelled_)}
    path = save_model(model, args.model_dir)
    if values is not None:
        values.save(path)
    shutil.rmtree(_ingest_cache(args), ignore_errors=True)  # every rank is past reading it
    summary = {k: v for k, v in model.metrics.items() if k != "history"}
    summary.update(model_dir=str(path), sessions=len(data), keys=len(keys))
    if args.register:
        registry = cli_feedback._registry(cli_feedback._store(args))
        summary["version"] = registry.register(path, args.register, dataset=args.train).version
    print(json.dumps(summary))
    return 0


def cmd_evaluate(args) -> int:
    if args.test and (args.normal or args.abnormal):
        raise ConfigError("give either --test or --normal/--abnormal, not both")
    if not args.test and not (args.normal and args.abnormal):
        raise ConfigError("evaluate needs --test PATH, or both --normal PATH and --abnormal PATH")
    model = load_model(args.model_dir, args.device)
    if args.test:
        sessions = load_input(args, args.test, model)[0].sessions
        if any(s.label is None for s in sessions):
            raise ConfigError(f"{args.test}: --test needs labels (a Label column, or --labels "
                              "for raw logs); some sessions have none")
    else:
        sessions = (load_input(args, args.normal, model)[0].with_label(NORMAL).sessions
                    + load_input(args, args.abnormal, model)[0].with_label(ANOMALY).sessions)
    scores = score_sessions(model, sessions, num_candidates=args.num_candidates,
                            progress=not args.json)
    metrics = evaluate_scores(scores, args.num_candidates)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key in ("sessions", "tp", "fp", "tn", "fn", "precision", "recall", "f1", "fpr",
                    "sessions_per_s"):
            print(f"{key:>15}  {metrics[key]}")
    return 0


def cmd_detect(args) -> int:
    """Score sessions; under torchrun each rank scores every world-size-th session and
    rank 0 merges the verdicts back into input order (the same file as one process)."""
    from .distributed import setup

    ctx = setup(args.device)
    try:
        model = load_model(args.model_dir, str(ctx.device) if ctx.enabled else args.device)
        data, ingested = load_input(args, args.input, model)
        mine = list(range(ctx.rank, len(data.sessions), ctx.world_size))
        scores = score_sessions(model, [data.sessions[i] for i in mine],
                                num_candidates=args.num_candidates, progress=ctx.is_main)
        values = None
        if ingested is not None:  # the parameter-value model, when the model has one
            from .params import load_param_model

            param_model = load_param_model(args.model_dir)
            values = param_model.score(ingested.grouped) if param_model is not None else None
        from .analysis import session_records

        records = list(zip(mine, session_records(scores, ingested.grouped if ingested else None,
                                                 values, args.num_candidates, mine)))
        if ctx.enabled:
            import torch.distributed as dist

            gathered = [None] * ctx.world_size if ctx.is_main else None
            dist.gather_object(records, gathered, dst=0)
            if not ctx.is_main:
                return 0
            records = sorted((r for part in gathered for r in part), key=lambda r: r[0])
    finally:
        teardown()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    flagged = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for _, record in records:
            flagged += record["anomalous"]
            if record["anomalous"] or not args.anomalous_only:
                fh.write(json.dumps(record) + "\n")
    os.replace(tmp, out)
    print(json.dumps({"sessions": len(records), "anomalous": flagged, "out": str(out),
                      "seconds": round(scores.seconds, 3), "world_size": ctx.world_size}))
    return 0


def cmd_parse(args) -> int:
    source = open_source(args.input, _s3_options(args))
    parser, preset = parser_for(source, args.preset, args.log_format)
    parser.fit(tqdm(source.lines(), desc="mining", unit="line", disable=args.quiet, mininterval=0.5))
    total = parser.lines_seen
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fields = parser.format.fields
    headers = [f for f in fields if f != "Content"]
    unmatched = unknown = 0
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["LineId", *headers, "Content", "EventId", "EventTemplate", "ParameterList"])
        for n, event in enumerate(tqdm(parser.parse(source.lines()), total=total, desc="parsing",
                                       unit="line", disable=args.quiet, mininterval=0.5), start=1):
            unmatched += not event.matched_format
            unknown += event.key is None
            writer.writerow([n, *(event.headers.get(h, "") for h in headers), event.content,
                             event.key or "", event.template, json.dumps(event.params)])
    os.replace(tmp, out)
    if args.templates_out:
        Path(args.templates_out).write_text(json.dumps(parser.to_state(), indent=1))
    print(json.dumps({"lines": total, "templates": len(parser.templates), "preset": preset or "custom",
                      "outside_log_format": unmatched, "out": str(out)}))
    return 0


def _runner(args):
    from .jobs import JobRunner
    from .store import Store, workspace_dir

    db = Path(args.db) if args.db else workspace_dir() / "deeplog.db"
    return JobRunner(Store(db), db.parent / "jobs")


def _job_view(job: dict, runner) -> dict:
    view = {k: job[k] for k in ("id", "status", "dataset", "model_dir", "pid", "error", "metrics",
                                "model_version", "log_path")}
    view["launcher"] = job["launcher"]
    for k in ("created", "started", "finished"):
        view[k] = datetime.fromtimestamp(job[k], timezone.utc).isoformat(timespec="seconds") if job[k] else None
    progress = runner.progress(job["id"])
    view["progress"] = progress[-1] if progress else None
    return view


def cmd_jobs(args) -> int:
    from .jobs import Launcher, flags_to_params, log_tail

    runner = _runner(args)
    if args.jobs_command == "start":
        launcher = Launcher(args.launcher, args.nproc_per_node, args.nnodes, args.rdzv_endpoint or "",
                            args.max_restarts)
        job_id = runner.start(args.train, args.model_dir, flags_to_params(args.train_flags), launcher)
        job = runner.get(job_id)
        print(json.dumps(_job_view(job, runner)))
        return 0 if job["status"] != "failed" else 2
    if args.jobs_command == "list":
        for job in runner.list():
            p = runner.progress(job["id"])
            epoch = epoch_text(p[-1]) if p else ""
            print(f"{job['id']:>4}  {job['status']:<10} {job['launcher']['kind']:<8} {epoch:<14} {job['dataset']}")
        return 0
    job = runner.get(args.id)
    if job is None:
        raise ConfigError(f"no job {args.id}")
    if args.jobs_command == "cancel":
        changed = runner.cancel(args.id)
        print(json.dumps({"id": args.id, "cancelled": changed, "status": runner.get(args.id)["status"]}))
        return 0
    view = _job_view(job, runner)
    view["log_tail"] = log_tail(job["log_path"], 20)
    print(json.dumps(view, indent=None if args.json else 2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deeplog", description="DeepLog log anomaly detection")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)

    jobs = sub.add_parser("jobs", help="training jobs in the background: start, list, show, cancel")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    js = jsub.add_parser("start", help="start a training job; flags after the known ones go to training")
    js.add_argument("--train", required=True, help="the dataset to train on")
    js.add_argument("--model-dir", required=True)
    js.add_argument("--launcher", choices=("python", "torchrun"), default="python")
    js.add_argument("--nproc-per-node", type=int, default=1)
    js.add_argument("--nnodes", type=int, default=1)
    js.add_argument("--rdzv-endpoint", help="HOST:PORT for several nodes")
    js.add_argument("--max-restarts", type=int, default=0)
    for name, extra in (("list", None), ("show", "id"), ("cancel", "id")):
        q = jsub.add_parser(name)
        if extra:
            q.add_argument("id", type=int)
        if name == "show":
            q.add_argument("--json", action="store_true", help="one line")
    for q in [js, *[jsub.choices[n] for n in ("list", "show", "cancel")]]:
        q.add_argument("--db", help="state database (default: $DEEPLOG_WORKSPACE/deeplog.db)")

    p = sub.add_parser("parse", help="raw logs -> loghub structured CSV (Drain3 templates)")
    p.add_argument("--input", required=True, help="file, folder, glob or s3://bucket/prefix")
    p.add_argument("--preset", choices=sorted(PRESETS), help="log format preset (default: detected)")
    p.add_argument("--log-format", help="custom loghub log format")
    p.add_argument("--out", required=True, help="structured CSV to write")
    p.add_argument("--templates-out", help="also write the mined templates (JSON)")
    p.add_argument("--quiet", action="store_true")
    _s3_args(p)

    p = sub.add_parser("evaluate", help="score labelled sessions and print metrics")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--normal", help="normal sessions")
    p.add_argument("--abnormal", help="abnormal sessions")
    p.add_argument("--test", help="labelled session CSV (Label column)")
    p.add_argument("--num-candidates", type=int, default=None, help="top-g (default: the model's)")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON line")
    _format_arg(p)
    _device_arg(p)

    p = sub.add_parser("detect", help="score sessions and write one verdict per line")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True, help="JSON lines output file")
    p.add_argument("--num-candidates", type=int, default=None)
    p.add_argument("--anomalous-only", action="store_true", help="write anomalous sessions only")
    _format_arg(p)
    _device_arg(p)
    cli_feedback.add_parsers(sub, _format_arg)
    cli_datasets.add_parsers(sub, _s3_args)
    return parser


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "detect": cmd_detect, "parse": cmd_parse,
            "jobs": cmd_jobs, **cli_feedback.COMMANDS, **cli_datasets.COMMANDS}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not (args.command == "jobs" and args.jobs_command == "start"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.train_flags = rest
    if getattr(args, "num_candidates", None) is not None and args.num_candidates < 1:
        print("error: --num-candidates must be a positive integer", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except DeepLogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
