"""Sources -> parsed events -> sessions, in one call (what the CLI and the app use)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Optional

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
