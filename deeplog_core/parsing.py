"""Raw log lines -> events: header fields, a log key (Drain3 template), parameter values.

Two streaming passes, so memory stays flat in the input size:
  1. `LogParser.fit(lines)` mines templates with Drain3 (masking first);
  2. `LogParser.parse(lines)` maps each line onto the final templates (`match`), and
     extracts its parameters and timestamp.
A line that matches no header format is kept as content only and counted, never
dropped. The mined templates are plain JSON (`to_state` / `from_state`), saved with the
dataset and the model, so detection maps new lines onto the same keys; a line that
matches no known template gets key None (the vocabulary's unknown key).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable, Iterator, Optional

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from .errors import ConfigError, DataFormatError
from .presets import PRESETS, Preset

WILDCARD = "<*>"

# The usual variables, masked before mining on top of a preset's own regexes.
COMMON_MASKS = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",  # UUID
    r"blk_-?\d+",                                                                   # HDFS block
    r"(\d{1,3}\.){3}\d{1,3}(:\d+)?",                                                # IPv4[:port]
    r"\b0[xX][0-9a-fA-F]+\b",                                                       # hex
)


TOKEN_CACHE_SIZE = 50_000
SPLIT_MAX_WORDS = 4        # a wildcard with at most this many plain words ...
SPLIT_MIN_SUPPORT = 3      # ... each on at least this many lines is a constant
WORD = re.compile(r"([A-Za-z][A-Za-z_-]*=)?[A-Za-z][A-Za-z_-]*")   # a word, or key=word
# Parts of dates are values however few of them a sample holds.
CALENDAR = {w.lower() for w in (
    "Jan Feb Mar Apr May Jun Jul Aug Sep Sept Oct Nov Dec January February March April June July "
    "August September October November December Mon Tue Wed Thu Fri Sat Sun Monday Tuesday "
    "Wednesday Thursday Friday Saturday Sunday AM PM UTC GMT").split()}

try:  # the regex parser of the standard library (private, stable since 3.4; moved in 3.11)
    from re import _constants as _sre, _parser as _sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse

# Character categories that contain no whitespace.
_SAFE_CATEGORIES = {_sre.CATEGORY_DIGIT, _sre.CATEGORY_WORD, _sre.CATEGORY_NOT_SPACE}


def token_safe(pattern: str) -> bool:
    """Whether a regex can only ever match text without whitespace (no `.`, `\\s`,
    negated classes, anchors or lookarounds): then it never matches across tokens, and
    masking token by token equals masking the line."""
    try:
        tree = _sre_parse.parse(pattern)
    except Exception:
        return False

    def space_free(code: int) -> bool:
        return not chr(code).isspace()

    def safe(items) -> bool:
        for op, av in items:
            if op is _sre.LITERAL:
                ok = space_free(av)
            elif op is _sre.IN:
                ok = all((iop is _sre.LITERAL and space_free(iav))
                         or (iop is _sre.RANGE and all(space_free(c) for c in range(iav[0], iav[1] + 1)))
                         or (iop is _sre.CATEGORY and iav in _SAFE_CATEGORIES)
                         for iop, iav in av)
            elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) or str(op) == "POSSESSIVE_REPEAT":
                ok = safe(av[2])
            elif op is _sre.SUBPATTERN:
                ok = safe(av[-1])
            elif op is _sre.BRANCH:
                ok = all(safe(b) for b in av[1])
            elif op is _sre.AT:
                # \b and \B see whitespace (a non-word character) or the string's edge
                # around a token alike; ^ and $ do not
                ok = av in (_sre.AT_BOUNDARY, _sre.AT_NON_BOUNDARY)
            elif op is _sre.CATEGORY:
                ok = av in _SAFE_CATEGORIES
            else:                      # ANY, NOT_LITERAL, lookarounds, backreferences, ...
                ok = False
            if not ok:
                return False
        return True

    return safe(tree)


class LogFormat:
    """A loghub `log_format` such as ``<Date> <Time> <Level> <Component>: <Content>``."""

    def __init__(self, log_format: str):
        parts = re.split(r"(<[^<>]+>)", log_format)
        self.fields: list[str] = []
        pattern = ""
        for i, part in enumerate(parts):
            if i % 2 == 0:
                pattern += re.sub(" +", r"\\s+", part)
                continue
            name = part[1:-1]
            if not name.isidentifier():
                raise ConfigError(f"log format field <{name}> is not a valid name")
            self.fields.append(name)
            follows = parts[i + 1] if i + 1 < len(parts) else ""
            # A field that ends at a space cannot hold one: without this, a line that
            # does not fit a ten-field format backtracks for seconds.
            if i == len(parts) - 2 and not follows:
                body = ".*"        # the last field runs to the end: greedy, no backtracking
            else:
                body = r"\S+" if follows.startswith(" ") else ".*?"
            pattern += f"(?P<{name}>{body})"
        if "Content" not in self.fields:
            raise ConfigError("a log format needs a <Content> field")
        try:
            self.regex = re.compile(f"^{pattern}$")
        except re.error as exc:
            raise ConfigError(f"log format {log_format!r} is not a valid pattern: {exc}") from None
        self.log_format = log_format

    def match(self, line: str) -> Optional[dict]:
        m = self.regex.match(line.strip())
        return {k: (v or "") for k, v in m.groupdict().items()} if m else None


def choose_preset(sample: Iterable[str]) -> tuple[Preset, float]:
    """The preset that fits a sample of lines best, and the share of lines it matches.

    Loose formats (seven space-separated fields) match almost anything, so a preset
    scores by the lines whose header matches AND whose timestamp reads as one; ties go
    to the format with more literal text (the more specific).
    """
    lines = [ln for ln in sample if ln.strip()]
    if not lines:
        raise DataFormatError("cannot choose a log format from an empty sample")
    best, best_key = None, None
    for preset in PRESETS.values():
        parser = LogParser(ParserConfig.from_preset(preset))
        matched = timed = 0
        for ln in lines:
            headers, _, ok = parser.split(ln)
            matched += ok
            timed += ok and parser.timestamp(headers) is not None
        literal = len(re.sub(r"<[^<>]+>", "", preset.log_format))
        key = (timed / len(lines), matched / len(lines), literal)
        if best_key is None or key > best_key:
            best, best_key = preset, key
    if best_key[1] == 0:
        raise DataFormatError("no preset log format matches these lines; give --log-format")
    return best, best_key[1]


def to_number(value: str):
    try:
        return float(value) if value.strip() else value
    except ValueError:
        return value


@dataclass
class Event:
    """One parsed log line."""

    line_no: int
    raw: str
    headers: dict
    content: str
    key: Optional[str]             # None: no known template (unknown key)
    template: str
    params: list = field(default_factory=list)
    timestamp: Optional[float] = None
    matched_format: bool = True


@dataclass(frozen=True)
class ParserConfig:
    log_format: str
    regexes: tuple[str, ...] = ()
    sim_th: float = 0.5
    depth: int = 4
    common_masks: bool = True
    timestamp: tuple[str, str] = ("", "")
    label_field: str = ""

    @classmethod
    def from_preset(cls, preset: Preset | str, common_masks: bool = True) -> "ParserConfig":
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
            preset = PRESETS[preset]
        return cls(preset.log_format, preset.regexes, preset.sim_th, preset.depth, common_masks,
                   preset.timestamp, preset.label_field)

    def masks(self) -> tuple[str, ...]:
        return (COMMON_MASKS if self.common_masks else ()) + tuple(self.regexes)

    def to_dict(self) -> dict:
        return {"log_format": self.log_format, "regexes": list(self.regexes), "sim_th": self.sim_th,
                "depth": self.depth, "common_masks": self.common_masks,
                "timestamp": list(self.timestamp), "label_field": self.label_field}

    @classmethod
    def from_dict(cls, d: dict) -> "ParserConfig":
        return cls(d["log_format"], tuple(d.get("regexes", ())), float(d.get("sim_th", 0.5)),
                   int(d.get("depth", 4)), bool(d.get("common_masks", True)),
                   tuple(d.get("timestamp", ("", ""))), d.get("label_field", ""))


def drain3_miner(masks: Iterable[str], sim_th: float, depth: int) -> TemplateMiner:
    """A plain Drain3 miner; masks become <*> as in the logpai benchmark."""
    cfg = TemplateMinerConfig()
    cfg.drain_sim_th = sim_th
    cfg.drain_depth = depth
    cfg.masking_instructions = [MaskingInstruction(rx, "*") for rx in masks]
    cfg.mask_prefix, cfg.mask_suffix = "<", ">"
    cfg.parametrize_numeric_tokens = True
    return TemplateMiner(config=cfg)


class LogParser:
    """Header parsing and template mining for one log format (see module docstring)."""

    def __init__(self, config: ParserConfig):
        self.config = config
        self.format = LogFormat(config.log_format)
        self.miner = drain3_miner(config.masks(), config.sim_th, config.depth)
        self._mined_by_masked: dict[str, int] = {}   # masked content -> cluster id
        self._templates: dict[str, str] = {}           # key -> template (after fit/load)
        self._by_length: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
        self._match_cache: dict[str, Optional[str]] = {}
        # Drain3's masker, unrolled: the same regexes applied in the same order with the
        # same replacement, without its per-call indirection.
        m = self.miner.masker
        self._masks = [(mi.regex, m.mask_prefix + mi.mask_with + m.mask_suffix)
                       for mi in m.masking_instructions]
        # When no mask can match whitespace, masking a line is masking each of its tokens,
        # and tokens repeat far more than lines (hosts, paths, words): each distinct token
        # is masked once. Drain3 splits on whitespace, so it sees the very same tokens.
        self._by_token = all(token_safe(mi.regex.pattern) for mi in m.masking_instructions)
        self._token_cache: dict[str, str] = {}
        self._masked_counts: dict[str, int] = {}
        self.lines_seen = 0
        self.unmatched_format = 0

    # -- headers -------------------------------------------------------------------
    def split(self, line: str) -> tuple[dict, str, bool]:
        headers = self.format.match(line)
        if headers is None:
            return {}, line.strip(), False
        return headers, headers.pop("Content"), True

    def timestamp(self, headers: dict) -> Optional[float]:
        names, fmt = self.config.timestamp
        if not names or not headers:
            return None
        text = " ".join(headers.get(n, "") for n in names.split())
        try:
            if fmt == "epoch":
                return float(text)
            stamp = datetime.strptime(re.sub(r"\s+", " ", text.strip()), fmt)
            if "%Y" not in fmt and "%y" not in fmt:
                stamp = stamp.replace(year=2000)  # formats without a year: order within a year
            return stamp.timestamp()
        except ValueError:
            return None

    # -- pass 1: mining --------------------------------------------------------------
    def fit(self, lines: Iterable[str]) -> "LogParser":
        match = self.format.regex.match
        for line in lines:
            line = line.strip()
            if not line:
                continue
            m = match(line)   # mining needs the content only: no header dict per line
            self.lines_seen += 1
            if m is None:
                self.unmatched_format += 1
                self.add(line)
            else:
                self.add(m.group("Content") or "")
        if not self.lines_seen:
            raise DataFormatError("no log lines to learn templates from: the input is empty")
        self.finish()
        return self

    def finish(self) -> None:
        """End mining: index the final templates for matching."""
        self._index()

    def add(self, content: str) -> int:
        """Mine one content. Identical masked contents are routed once (a cache hit
        gives the cluster Drain3 would find again, since its template already covers it)."""
        masked = self.mask(content)
        cid = self._mined_by_masked.get(masked)
        if cid is not None:
            self.miner.drain.id_to_cluster[cid].size += 1
            self._masked_counts[masked] += 1
            return cid
        cluster, _ = self.miner.drain.add_log_message(masked)
        self._mined_by_masked[masked] = cluster.cluster_id
        self._masked_counts[masked] = 1
        return cluster.cluster_id

    def _split_constant_words(self) -> None:
        """Drain merges lines that differ in one plain word ("Instance spawned
        successfully" / "Instance destroyed successfully"): a wildcard whose values are a
        few words, each seen several times, is a constant. Such a template gets one
        specific template per word (matching prefers the most exact one)."""
        members = defaultdict(list)
        for masked, cid in self._mined_by_masked.items():
            members[f"E{cid}"].append((masked.split(), self._masked_counts.get(masked, 1)))
        for key, template in list(self._templates.items()):
            tokens = template.split()
            rows = [(t, n) for t, n in members.get(key, ()) if len(t) == len(tokens)]
            for pos, tok in enumerate(tokens):
                if tok != WILDCARD:
                    continue
                values: dict[str, int] = defaultdict(int)
                for t, n in rows:
                    values[t[pos]] += n
                if (2 <= len(values) <= SPLIT_MAX_WORDS and min(values.values()) >= SPLIT_MIN_SUPPORT
                        and all(WORD.fullmatch(v) and v.rsplit("=", 1)[-1].lower() not in CALENDAR for v in values)):
                    for i, word in enumerate(sorted(values)):
                        self._templates[f"{key}.{i + 1}"] = " ".join(tokens[:pos] + [word] + tokens[pos + 1:])
                    break

    def mask(self, content: str) -> str:
        """Drain3's masking of `content` (as tokens joined by single spaces)."""
        if not self._by_token:
            for rx, replacement in self._masks:
                content = rx.sub(replacement, content)
            return content
        cache, out = self._token_cache, []
        for token in content.split():
            masked = cache.get(token)
            if masked is None:
                masked = token
                for rx, replacement in self._masks:
                    masked = rx.sub(replacement, masked)
                if len(cache) < TOKEN_CACHE_SIZE:   # bounded: memory stays flat
                    cache[token] = masked
            out.append(masked)
        return " ".join(out)

    def _index(self) -> None:
        self._templates = {f"E{c.cluster_id}": c.get_template() for c in self.miner.drain.clusters}
        self._split_constant_words()
        self._by_length = defaultdict(list)
        for key, template in self._templates.items():
            tokens = tuple(template.split())
            self._by_length[len(tokens)].append((key, tokens))
        self._match_cache = {}
        self._mined_by_masked = {}

    @property
    def templates(self) -> dict[str, str]:
        return dict(self._templates)

    # -- pass 2: matching --------------------------------------------------------------
    def match(self, content: str) -> Optional[str]:
        """The key of the known template that fits `content` best, or None."""
        masked = self.mask(content)
        if masked in self._match_cache:
            return self._match_cache[masked]
        tokens = masked.split()
        best, best_exact = None, -1
        for key, template in self._by_length.get(len(tokens), ()):
            exact = 0
            for t, c in zip(template, tokens):
                if t == c:
                    exact += 1
                elif t != WILDCARD:
                    break
            else:
                if exact > best_exact:
                    best, best_exact = key, exact
        if len(self._match_cache) < 200_000:
            self._match_cache[masked] = best
        return best

    def parameters(self, key: Optional[str], content: str) -> list:
        if key is None:
            return []
        found = self.miner.extract_parameters(self._templates[key], content, exact_matching=False)
        return [to_number(p.value) for p in (found or [])]

    def parse(self, lines: Iterable[str]) -> Iterator[Event]:
        if not self._templates:
            raise ConfigError("the parser has no templates: fit it, or load its state")
        for line_no, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            headers, content, ok = self.split(line)
            key = self.match(content)
            yield Event(line_no=line_no, raw=line, headers=headers, content=content, key=key,
                        template=self._templates.get(key, ""), params=self.parameters(key, content),
                        timestamp=self.timestamp(headers), matched_format=ok)

    # -- state ------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"config": self.config.to_dict(), "templates": self._templates,
                "lines_seen": self.lines_seen, "unmatched_format": self.unmatched_format}

    @classmethod
    def from_state(cls, state: dict) -> "LogParser":
        try:
            parser = cls(ParserConfig.from_dict(state["config"]))
            templates = state["templates"]
            if not isinstance(templates, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in templates.items()):
                raise TypeError("templates must map keys to template strings")
        except (KeyError, TypeError, ValueError) as exc:
            raise DataFormatError(f"invalid parser state ({exc})") from None
        parser._templates = dict(templates)
        parser._by_length = defaultdict(list)
        for key, template in parser._templates.items():
            tokens = tuple(template.split())
            parser._by_length[len(tokens)].append((key, tokens))
        return parser
