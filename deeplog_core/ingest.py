"""Sources -> parsed events -> sessions, in one call (what the CLI and the app use)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Optional

from .errors import ConfigError

from .grouping import GroupedLog, SessionSpec, attach_labels, group, read_label_file
from .parsing import LogParser, ParserConfig, choose_preset
from .presets import PRESETS
from .sources import LogSource


@dataclass
class Ingested:
    grouped: GroupedLog
    parser: LogParser
    preset: str          # the preset used ("" for a custom log format)
    lines: int
    unmatched_format: int
    replaced_lines: int


def parser_for(source: LogSource, preset: Optional[str] = None,
               log_format: Optional[str] = None, sample_lines: int = 200) -> tuple[LogParser, str]:
    """A parser for a named preset, a custom format, or the preset that fits best."""
    if log_format:
        return LogParser(ParserConfig(log_format)), ""
    if not preset:
        chosen, _ = choose_preset(islice(source.lines(), sample_lines))
        preset = chosen.name
    return LogParser(ParserConfig.from_preset(PRESETS.get(preset, preset))), preset


def ingest(source: LogSource, *, preset: Optional[str] = None, log_format: Optional[str] = None,
           parser_state: Optional[dict] = None, session_by: SessionSpec = SessionSpec(),
           labels_path: Optional[str] = None) -> Ingested:
    """Parse a source into sessions. With `parser_state` (a trained model's templates)
    lines are matched onto those keys, never mined anew."""
    if parser_state is not None:
        parser, name = LogParser.from_state(parser_state), "model"
    else:
        parser, name = parser_for(source, preset, log_format)
        parser.fit(source.lines())
    events = list(parser.parse(source.lines()))
    grouped = group(events, session_by, parser.templates)
    labels = read_label_file(labels_path) if labels_path else None
    attach_labels(grouped, labels, parser.config.label_field)
    return Ingested(grouped, parser, name, len(events),
                    sum(not e.matched_format for e in events), source.stats.replaced_lines)


NODE_WAIT_S = float(os.environ.get("DEEPLOG_NODE_WAIT_S", "1800"))


def ingest_once_per_node(make_source: Callable[[], LogSource], cache_root: Path, *, name: str,
                         log: Callable[[str], None] = lambda _: None, **kwargs) -> Ingested:
    """`ingest`, but under torchrun only the first process of each node (LOCAL_RANK 0)
    reads the source (S3 objects are fetched once per node, not once per process) and
    parses it; the node's other processes wait for its parse, written to `cache_root`,
    and read that. Parsing is deterministic, so every node gets the same keys. The cache
    is keyed by the torchrun run id and the parse options, so a restarted worker reuses
    it and another run never sees it."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    if local_world <= 1:
        return ingest(make_source(), **kwargs)
    from .datasets import read_parsed, write_parsed

    options = {k: v for k, v in kwargs.items() if k != "parser_state"}
    options["name"] = name
    options["session_by"] = str(options.get("session_by"))
    options["parser"] = hashlib.sha256(json.dumps(kwargs.get("parser_state"), sort_keys=True,
                                                  default=str).encode()).hexdigest()
    options["run"] = os.environ.get("TORCHELASTIC_RUN_ID", "")
    key = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:24]
    folder = Path(cache_root) / key
    done = folder / "stats.json"
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and not done.exists():
        result = ingest(make_source(), **kwargs)
        staging = Path(cache_root) / f".{key}.{os.getpid()}"
        write_parsed(staging, result.grouped, result.parser)
        (staging / "stats.json").write_text(json.dumps(
            {"preset": result.preset, "lines": result.lines, "unmatched_format": result.unmatched_format,
             "replaced_lines": result.replaced_lines}))
        try:
            staging.rename(folder)
        except OSError:           # another node's first process (shared disk) was first
            shutil.rmtree(staging, ignore_errors=True)
        log(f"parsed {result.lines} lines from the source; the node's other processes read this parse")
        return result
    deadline = time.time() + NODE_WAIT_S
    while not done.exists():
        if time.time() > deadline:
            raise ConfigError(f"the node's first process did not finish parsing the input within "
                              f"{NODE_WAIT_S:.0f} s (see its log)")
        time.sleep(0.2)
    grouped, parser = read_parsed(folder, name)
    stats = json.loads(done.read_text())
    log(f"read the node's parse ({stats['lines']} lines) instead of the source")
    return Ingested(grouped, parser, stats["preset"], stats["lines"], stats["unmatched_format"],
                    stats["replaced_lines"])
