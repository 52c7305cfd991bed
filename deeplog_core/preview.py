"""What the Data page needs before a dataset is saved, without streamlit.

  * local paths: `resolve_under` / `local_files` / `local_source` only reach files under a
    configured data root (``$DEEPLOG_DATA_ROOT`` or the workspace's ``data/``); absolute
    paths, ``..`` and symbolic links leading out of it are refused with a clear message;
  * uploads: `upload_source` caps their size (``$DEEPLOG_MAX_UPLOAD_MB``, 200 MB);
  * S3: `s3_options` (no credentials: boto3's standard chain), `list_s3`, `s3_source`;
  * `preview`: the first lines of a source parsed with a preset, a custom log format or
    the preset auto-detection chooses (header fields, template, parameters);
  * labels from uploaded bytes or a file under the root, read with the rules of
    `grouping.read_label_file`;
  * `session_by`: the grouping choice of a form as `SessionSpec.parse` text.
Every failure is a DeepLogError whose message says what to do.
"""

from __future__ import annotations

import gzip
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Optional, Sequence
from urllib.parse import urlsplit

import pandas as pd

from .errors import ConfigError, DataFormatError
from .grouping import SessionSpec, group, parse_label_table, read_label_file
from .parsing import Event, LogParser, ParserConfig, choose_preset
from .presets import PRESETS
from .sources import (GZIP_MAGIC, LocalFileSource, LogSource, S3Object, S3Options, S3Source,
                      SourceError, UploadSource)

DATA_ROOT_ENV = "DEEPLOG_DATA_ROOT"
MAX_UPLOAD_ENV = "DEEPLOG_MAX_UPLOAD_MB"
DEFAULT_MAX_UPLOAD_MB = 200
PREVIEW_LINES = 20
SAMPLE_LINES = 200        # what ingest.parser_for detects a preset from
GLOB_CHARS = "*?["
MAX_LISTED = 10_000       # files a local folder or pattern may pick


# -- local paths under the data root ----------------------------------------------------

def data_root(workspace: str | os.PathLike) -> Path:
    """``$DEEPLOG_DATA_ROOT``, or the workspace's ``data/`` folder (made if missing)."""
    configured = os.environ.get(DATA_ROOT_ENV, "").strip()
    root = Path(configured).expanduser() if configured else Path(workspace) / "data"
    if not configured:
        root.mkdir(parents=True, exist_ok=True)
    return root.resolve()


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _check_relative(text: str, root: Path) -> None:
    if "\x00" in text:
        raise SourceError("the path contains a NUL character")
    if (text.startswith(("/", "\\", "~")) or PurePosixPath(text).is_absolute()
            or PureWindowsPath(text).drive):
        raise SourceError(f"{text!r}: give a path relative to the data root {root}, "
                          "not an absolute one")
    if ".." in re.split(r"[\\/]+", text):
        raise SourceError(f"{text!r}: '..' is not allowed; the path must stay under the "
                          f"data root {root}")


def resolve_under(root: str | os.PathLike, rel: str) -> Path:
    """The real path of `rel` under `root`; refuses anything that leads out of it."""
    root = Path(root).resolve()
    text = (rel or "").strip()
    _check_relative(text, root)
    target = (root / text).resolve()
    if not _inside(target, root):
        raise SourceError(f"{text!r} leads outside the data root {root} through a symbolic "
                          "link; copy or move the files under the root instead")
    return target


def _visible(path: Path, base: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(base).parts)


def local_files(root: str | os.PathLike, rel: str) -> list[Path]:
    """The files `rel` names under `root`: a file, a folder (recursively, hidden files
    skipped) or a glob pattern such as ``hdfs/*.log.gz`` or ``**/*.log``."""
    root = Path(root).resolve()
    text = (rel or "").strip()
    if not text:
        raise SourceError("enter a file, a folder or a glob pattern under the data root")
    _check_relative(text, root)
    if any(c in text for c in GLOB_CHARS):
        try:
            candidates = [p for p in root.glob(text) if _visible(p, root)]
        except (ValueError, NotImplementedError) as exc:
            raise SourceError(f"{text!r} is not a usable glob pattern ({exc})") from None
    else:
        target = resolve_under(root, text)
        if not target.exists():
            raise SourceError(f"{text}: no such file or folder under the data root {root}")
        if target.is_dir():
            candidates = [p for p in target.rglob("*") if _visible(p, target)]
        else:
            candidates = [target]
    found, seen = [], set()
    for path in sorted(candidates):
        real = path.resolve()
        if not _inside(real, root):
            raise SourceError(f"{path.relative_to(root)} leads outside the data root {root} "
                              "through a symbolic link; remove it or pick other files")
        if real.is_file() and real not in seen:      # a file linked twice is read once
            seen.add(real)
            found.append(real)
        if len(found) > MAX_LISTED:
            raise SourceError(f"{text!r} picks more than {MAX_LISTED:,} files; narrow it down")
    if not found:
        raise SourceError(f"{text}: matches no files under the data root {root}")
    return found


class FilesSource(LogSource):
    """A fixed list of local files, read in order (what the Data page picked)."""

    def __init__(self, files: Sequence[Path], name: str):
        super().__init__()
        self.files = [Path(f) for f in files]
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def streams(self):
        for path in self.files:
            try:
                stream = open(path, "rb")
            except FileNotFoundError:
                raise SourceError(f"{path}: no such file (was it moved?)") from None
            except PermissionError:
                raise SourceError(f"{path}: permission denied") from None
            yield str(path), stream


def local_source(root: str | os.PathLike, rel: str) -> LogSource:
    """The files `rel` picks under `root` (see `local_files`) as one source."""
    files = local_files(root, rel)
    text = rel.strip()
    if len(files) == 1 and not any(c in text for c in GLOB_CHARS) and resolve_under(root, text).is_file():
        return LocalFileSource(files[0])
    return FilesSource(files, str(Path(root).resolve() / text))


# -- uploads ----------------------------------------------------------------------------

def max_upload_bytes() -> int:
    text = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MAX_UPLOAD_MB
    except ValueError:
        raise ConfigError(f"${MAX_UPLOAD_ENV}={text!r} is not a number of megabytes") from None
    if mb <= 0:
        raise ConfigError(f"${MAX_UPLOAD_ENV} must be positive")
    return int(mb * 1024 * 1024)


def max_upload_mb() -> int:
    """The cap in whole megabytes (at least 1), for the upload widget."""
    return max(1, math.ceil(max_upload_bytes() / (1024 * 1024)))


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def upload_source(files: Sequence[tuple[str, bytes]], max_bytes: Optional[int] = None) -> UploadSource:
    """The uploaded files as a source, if together they stay under the cap."""
    cap = max_upload_bytes() if max_bytes is None else max_bytes
    total = sum(len(data) for _, data in files)
    if total > cap:
        raise SourceError(f"the upload is {human_size(total)}, over the {human_size(cap)} limit; "
                          "put large logs under the data root or in S3 and pick them from there")
    if files and total == 0:
        raise DataFormatError("the uploaded files are empty")
    return UploadSource(files)


# -- S3 -----------------------------------------------------------------------------------

def check_endpoint(url: str) -> Optional[str]:
    """An S3 endpoint URL (None: AWS's own); never one carrying credentials."""
    url = (url or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"endpoint {url!r}: give an http:// or https:// URL, "
                          "e.g. https://s3.eu-west-1.amazonaws.com")
    try:
        parts.port
    except ValueError:
        raise ConfigError(f"endpoint {url!r}: the port is not a number") from None
    if parts.username or parts.password:
        raise ConfigError("do not put credentials in the endpoint URL; they come from the "
                          "standard AWS chain (environment, profile, instance role)")
    return url


def s3_options(endpoint: str = "", region: str = "", profile: str = "") -> S3Options:
    return S3Options(region=(region or "").strip() or None, profile=(profile or "").strip() or None,
                     endpoint_url=check_endpoint(endpoint), max_attempts=2)


def s3_url(bucket: str, prefix: str = "") -> str:
    bucket, prefix = (bucket or "").strip(), (prefix or "").strip().lstrip("/")
    if not bucket:
        raise ConfigError("enter a bucket name")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,254}", bucket):
        raise ConfigError(f"{bucket!r} is not a bucket name (letters, digits, '.', '-', '_'; "
                          "the prefix goes in its own field)")
    return f"s3://{bucket}/{prefix}"


def list_s3(bucket: str, prefix: str, options: S3Options, client=None) -> list[S3Object]:
    return S3Source(s3_url(bucket, prefix), options, client=client).list_objects()


def s3_source(bucket: str, prefix: str, options: S3Options,
              keys: Optional[Sequence[str]] = None, client=None) -> S3Source:
    """The whole prefix (keys None) or the chosen objects of it."""
    if keys is not None and not keys:
        raise ConfigError("pick at least one object, or take the whole prefix")
    return S3Source(s3_url(bucket, prefix), options, keys=keys, client=client)


def s3_label(source: S3Source) -> str:
    """What a dataset records of an S3 pick: the prefix URL or the objects' URLs."""
    if source.keys is None:
        return source.url
    urls = [f"s3://{source.bucket}/{k}" for k in source.keys]
    return ", ".join(urls[:10]) + (f", … (+{len(urls) - 10} more)" if len(urls) > 10 else "")


# -- preview -----------------------------------------------------------------------------

def head(source: LogSource, n: int) -> list[str]:
    """The first n lines of a source; its streams are closed afterwards."""
    lines = source.lines()
    try:
        return list(islice(lines, n))
    finally:
        lines.close()


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Preview:
    """The first lines of a source, parsed as they would be saved."""

    source: str
    preset: str                 # the preset used ("" for a custom log format)
    detected: bool              # chosen by auto-detection
    log_format: str
    fields: list[str]           # header fields, <Content> excluded
    rows: list[dict]            # line, the fields, template, parameters, in_format
    sample: int                 # non-blank lines read (detection and mining)
    sample_matched: float       # share of those inside the log format
    replaced: int               # lines of the sample with invalid UTF-8 replaced
    templates: int              # templates mined from the sample
    events: list[Event] = field(default_factory=list, repr=False)

    @property
    def lines(self) -> int:
        return len(self.rows)

    @property
    def unmatched(self) -> int:
        """Preview lines outside the log format."""
        return sum(not r["in format"] for r in self.rows)

    def frame(self) -> pd.DataFrame:
        columns = ["line", *self.fields, "template", "parameters", "in format"]
        return pd.DataFrame(self.rows, columns=columns)

    def sessions(self, session_by: str) -> int:
        """Sessions the sample lines form with a grouping (DataFormatError if none)."""
        return len(group(self.events, SessionSpec.parse(session_by)).sessions)


def preview(source: LogSource, preset: Optional[str] = None, log_format: Optional[str] = None,
            lines: int = PREVIEW_LINES, sample_lines: int = SAMPLE_LINES) -> Preview:
    """Parse the first lines of `source`: with a custom `log_format`, a named `preset`,
    or (neither) the preset auto-detection picks from the first `sample_lines` lines.
    Templates are mined from that sample, so they may be coarser than the saved ones."""
    text = head(source, max(lines, sample_lines))
    replaced = source.stats.replaced_lines
    content = [ln for ln in text if ln.strip()]
    if not content:
        raise DataFormatError(f"{source.name}: no log lines at its start; is it empty?")
    if replaced > len(content) / 2:
        raise DataFormatError(f"{source.name}: {replaced} of its first {len(content)} lines are not "
                              "UTF-8 text; it looks like a binary file, not a log")
    detected = False
    if log_format and log_format.strip():
        config, name = ParserConfig(log_format.strip()), ""
    elif preset:
        config, name = ParserConfig.from_preset(preset), preset
    else:
        try:
            chosen, _ = choose_preset(content[:sample_lines])
        except DataFormatError:
            raise DataFormatError(f"{source.name}: none of the {len(PRESETS)} preset log formats "
                                  "fits its first lines; pick the closest preset or write a "
                                  "custom log format") from None
        config, name, detected = ParserConfig.from_preset(chosen), chosen.name, True
    parser = LogParser(config).fit(text)
    events = list(parser.parse(text))
    fields = [f for f in parser.format.fields if f != "Content"]
    rows = []
    for e in events[:lines]:
        row = {"line": e.line_no, **{f: e.headers.get(f, "") for f in fields},
               "template": e.template, "parameters": ", ".join(_show(p) for p in e.params),
               "in format": e.matched_format}
        rows.append(row)
    matched = sum(e.matched_format for e in events) / len(events)
    return Preview(source.name, name, detected, config.log_format, fields, rows, len(events),
                   matched, replaced, len(parser.templates), events)


# -- labels -------------------------------------------------------------------------------

def labels_from_text(text: str, where: str) -> dict[str, int]:
    """A BlockId,Label table (loghub ``anomaly_label.csv``), as `read_label_file` reads it."""
    return parse_label_table(text, where)


def labels_from_bytes(data: bytes, name: str) -> dict[str, int]:
    """Labels from an uploaded CSV (plain or gzip), capped like log uploads."""
    if len(data) > max_upload_bytes():
        raise SourceError(f"{name}: {human_size(len(data))}, over the "
                          f"{human_size(max_upload_bytes())} upload limit")
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"{name}: broken gzip stream ({exc})") from None
    if b"\x00" in data:
        raise DataFormatError(f"{name}: contains NUL bytes; it looks like a binary file, not a CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{name}: not UTF-8 text (byte {exc.start}); is it a CSV?") from None
    return labels_from_text(text, name)


def labels_from_path(root: str | os.PathLike, rel: str) -> dict[str, int]:
    path = resolve_under(root, rel)
    if not (rel or "").strip() or not path.is_file():
        raise SourceError(f"{rel!r}: no such file under the data root {Path(root).resolve()}")
    return read_label_file(path)


# -- grouping and naming ------------------------------------------------------------------

def session_by(kind: str, *, pattern: str = "", field_name: str = "", size: float = 60.0,
               step: float = 0.0) -> str:
    """A form's grouping choice ("id", "field", "window") as SessionSpec.parse text."""
    if kind == "id":
        text = f"id:{pattern}" if pattern else "id"
    elif kind == "field":
        text = f"field:{field_name}"
    elif kind == "window":
        if not size > 0 or step < 0:
            raise ConfigError("time windows need a positive size and a non-negative step")
        text = f"window:{float(size):g}" + (f",{float(step):g}" if step else "")
    else:
        raise ConfigError(f"group sessions by id, field or window, not {kind!r}")
    SessionSpec.parse(text)
    return text


def suggest_name(source_name: str, taken: Sequence[str] = ()) -> str:
    """A valid dataset name from a source's name, not among `taken`."""
    first = re.sub(r"^upload:", "", re.split(r",\s*", source_name or "")[0]).rstrip("/")
    stem = first.rsplit("/", 1)[-1] or first
    stem = re.sub(r"(\.gz|\.log|\.txt)+$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")[:56] or "dataset"
    if not stem[0].isalnum():
        stem = f"d{stem}"
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}-{n}", n + 1
    return name


def datasets_frame(infos) -> pd.DataFrame:
    """The workspace's datasets as a table."""
    return pd.DataFrame([{
        "name": i.name, "source": i.spec.source, "lines": i.stats.get("lines"),
        "sessions": i.stats.get("sessions"), "templates": i.stats.get("templates"),
        "outside format": i.stats.get("outside_log_format"),
        "anomalous (labels)": i.stats.get("labelled_anomalous"),
        "preset": i.stats.get("preset"), "grouping": i.spec.session_by,
        "created": datetime.fromtimestamp(i.created).replace(microsecond=0),
    } for i in infos], columns=["name", "source", "lines", "sessions", "templates", "outside format",
                                "anomalous (labels)", "preset", "grouping", "created"])


# -- saving large sources in the background ---------------------------------------------------

INLINE_PARSE_ENV = "DEEPLOG_INLINE_PARSE_MB"
DEFAULT_INLINE_PARSE_MB = 25


def inline_parse_bytes() -> int:
    """Sources up to this size are parsed in the page; larger ones by a background job."""
    text = os.environ.get(INLINE_PARSE_ENV, "").strip()
    try:
        return int(float(text) * 1024 * 1024) if text else DEFAULT_INLINE_PARSE_MB * 1024 * 1024
    except ValueError:
        raise ConfigError(f"${INLINE_PARSE_ENV}={text!r} is not a number of megabytes") from None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(PureWindowsPath(name).name).name)[:100] or "upload"


def ingest_request(workspace: str | os.PathLike, spec, *, uploads: Sequence[tuple[str, bytes]] = (),
                   files: Sequence[Path] = (), s3: Optional[tuple[str, str, S3Options, Optional[list]]] = None,
                   labels: Optional[dict[str, int]] = None) -> tuple[list[str], list[str]]:
    """(inputs, flags) of ``deeplog dataset create`` for what the Data page picked. Uploads
    (and labels) are written under the workspace first, so the job reads files; S3 keeps
    only the location and the picked keys, never credentials."""
    folder = Path(workspace) / "uploads" / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    inputs: list[str] = []
    flags = ["--source-label", spec.source, "--session-by", spec.session_by]
    if spec.preset:
        flags += ["--preset", spec.preset]
    elif spec.log_format:
        flags += ["--log-format", spec.log_format]
    if uploads:
        folder.mkdir(parents=True, exist_ok=True)
        for i, (name, data) in enumerate(uploads):
            path = folder / f"{i:03d}-{_safe_name(name)}"
            path.write_bytes(data)
            inputs.append(str(path))
    inputs += [str(Path(f).resolve()) for f in files]
    if s3 is not None:
        bucket, prefix, options, keys = s3
        inputs.append(s3_url(bucket, prefix))
        for key in keys or ():
            flags += ["--s3-key", key]
        for flag, value in (("--s3-endpoint-url", options.endpoint_url), ("--s3-region", options.region),
                            ("--s3-profile", options.profile)):
            if value:
                flags += [flag, value]
    if not inputs:
        raise ConfigError("nothing to save: pick some logs first")
    if labels is not None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "labels.csv"
        path.write_text("BlockId,Label\n" + "".join(f"{k},{'Anomaly' if v else 'Normal'}\n"
                                                    for k, v in labels.items()))
        flags += ["--labels", str(path)]
    return inputs, flags
