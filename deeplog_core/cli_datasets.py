"""``deeplog dataset create|list``: workspace datasets from the command line, and the
command a background ingest job runs (the Data page starts one for large sources)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .progress import ProgressFile


def cmd_dataset(args) -> int:
    from .datasets import DatasetSpec
    from .demo import Workspace
    from .grouping import read_label_file
    from .sources import S3Options, S3Source, open_source

    ws = Workspace.open(Path(args.db).parent if args.db else None)
    if args.dataset_command == "list":
        for d in ws.datasets.list():
            print(json.dumps({"name": d.name, "source": d.spec.source, **d.stats}))
        return 0
    options = S3Options(region=args.s3_region, profile=args.s3_profile, endpoint_url=args.s3_endpoint_url)
    from .preview import FilesSource

    if len(args.input) > 1:                      # several files, read in this order
        source = FilesSource([Path(p) for p in args.input], args.source_label or ", ".join(args.input))
    elif args.input[0].startswith("s3://"):
        source = S3Source(args.input[0], options, keys=args.s3_key or None)
    else:
        source = open_source(args.input[0])
    spec = DatasetSpec(source=args.source_label or ", ".join(args.input), preset=args.preset or "",
                       log_format=args.log_format or "", session_by=args.session_by)
    labels = read_label_file(args.labels) if args.labels else None
    with ProgressFile(args.progress_file) as progress:
        def report(record: dict) -> None:
            progress.write(record)
            if not args.quiet:
                print(f"{record['phase']}: {record['lines']:,} lines", file=sys.stderr)

        info = ws.datasets.create(args.name, source, spec, labels=labels, replace=args.replace,
                                  on_progress=report)
    print(json.dumps({"name": info.name, **info.stats}))
    return 0


def add_parsers(sub, s3_args) -> None:
    from .presets import PRESETS

    p = sub.add_parser("dataset", help="workspace datasets: parse a source once, keep it")
    dsub = p.add_subparsers(dest="dataset_command", required=True)
    c = dsub.add_parser("create", help="parse a file, folder, glob or s3:// prefix into a dataset")
    c.add_argument("--name", required=True)
    c.add_argument("--input", required=True, action="append",
                   help="file, folder, glob or s3://bucket/prefix (repeat it for several files, read in order)")
    c.add_argument("--s3-key", action="append", help="only these objects of the prefix (repeatable)")
    c.add_argument("--preset", choices=sorted(PRESETS), help="log format preset (default: detected)")
    c.add_argument("--log-format", help="custom loghub log format")
    c.add_argument("--session-by", default="id", help="id[:REGEX], field:NAME or window:SECONDS[,STEP]")
    c.add_argument("--labels", help="session labels, loghub anomaly_label.csv (BlockId,Label)")
    c.add_argument("--source-label", help="how the dataset names its source (default: --input)")
    c.add_argument("--replace", action="store_true", help="replace a dataset of that name")
    c.add_argument("--progress-file", help="append {phase, lines} JSON lines as it goes")
    c.add_argument("--quiet", action="store_true")
    s3_args(c)
    ls = dsub.add_parser("list")
    for q in (c, ls):
        q.add_argument("--db", help="state database (default: $DEEPLOG_WORKSPACE/deeplog.db)")


COMMANDS = {"dataset": cmd_dataset}
