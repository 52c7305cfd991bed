"""Where raw log lines come from: one small interface, several back-ends.

A LogSource yields named binary streams; `lines()` decodes them line by line, gzip or
plain (told apart by the magic bytes, not the name), so nothing is ever loaded whole:
an S3 object is read as it streams. Back-ends: a local file, a folder or glob, uploaded
bytes, and an S3 prefix (boto3: the standard credential chain, region, profile,
endpoint_url for S3-compatible stores; AWS_ENDPOINT_URL_S3 is honoured by boto3).
"""

from __future__ import annotations

import glob as globlib
import gzip
import io
import os
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Optional, Sequence

from .errors import DataFormatError, DeepLogError

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 8192


class SourceError(DeepLogError):
    """A source cannot be listed or read (missing, denied, unreachable)."""


@dataclass
class DecodeStats:
    """What decoding had to do: lines read and lines with undecodable bytes replaced."""

    lines: int = 0
    replaced_lines: int = 0
    objects: int = 0


class _Rewound(io.RawIOBase):
    """A non-seekable stream with its first bytes put back (after sniffing them)."""

    def __init__(self, head: bytes, rest):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _decoded_lines(name: str, stream: BinaryIO, stats: DecodeStats) -> Iterator[str]:
    head = stream.read(SNIFF_BYTES)
    raw = io.BufferedReader(_Rewound(head, stream), buffer_size=1 << 16)
    if head[:2] == GZIP_MAGIC:
        try:
            raw = gzip.GzipFile(fileobj=raw)
            head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES]
        except (OSError, EOFError) as exc:
            raise DataFormatError(f"{name}: broken gzip stream ({exc})") from None
    if b"\x00" in head:
        raise DataFormatError(f"{name}: contains NUL bytes; it looks like a binary file, not a log")
    try:
        for line in raw:
            stats.lines += 1
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                stats.replaced_lines += 1
                text = line.decode("utf-8", errors="replace")
            yield text.rstrip("\r\n")
    except (OSError, EOFError) as exc:  # a truncated gzip member, a dropped connection
        raise DataFormatError(f"{name}: stream ended unexpectedly ({exc})") from None


class LogSource(ABC):
    """Lines of one or more logs. Subclasses only say how to list and open them."""

    def __init__(self):
        self.stats = DecodeStats()

    @property
    @abstractmethod
    def name(self) -> str:
        ...

    @abstractmethod
    def streams(self) -> Iterator[tuple[str, BinaryIO]]:
        """(name, binary stream) for each object, in order; each closed after use."""

    def lines(self) -> Iterator[str]:
        self.stats = DecodeStats()
        for name, stream in self.streams():
            self.stats.objects += 1
            with stream:
                yield from _decoded_lines(name, stream, self.stats)
        if self.stats.replaced_lines:
            warnings.warn(f"{self.name}: {self.stats.replaced_lines} of {self.stats.lines} lines "
                          "were not valid UTF-8; undecodable bytes were replaced with U+FFFD")


class LocalFileSource(LogSource):
    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = Path(path)

    @property
    def name(self) -> str:
        return str(self.path)

    def streams(self):
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file" if not self.path.exists()
                              else f"{self.path}: not a regular file")
        try:
            yield str(self.path), open(self.path, "rb")
        except PermissionError:
            raise SourceError(f"{self.path}: permission denied") from None


class LocalGlobSource(LogSource):
    """Every file of a folder (recursively, hidden files skipped) or of a glob pattern."""

    def __init__(self, pattern: str | os.PathLike):
        super().__init__()
        self.pattern = str(pattern)

    @property
    def name(self) -> str:
        return self.pattern

    def files(self) -> list[Path]:
        if os.path.isdir(self.pattern):
            found = [p for p in Path(self.pattern).rglob("*")
                     if p.is_file() and not any(part.startswith(".") for part in p.parts[-1:])]
        else:
            found = [Path(p) for p in globlib.glob(self.pattern, recursive=True) if os.path.isfile(p)]
        if not found:
            raise SourceError(f"{self.pattern}: matches no files")
        return sorted(found)

    def streams(self):
        for path in self.files():
            yield str(path), open(path, "rb")


class UploadSource(LogSource):
    """Files uploaded through the app or an API: (name, bytes) pairs, in order."""

    def __init__(self, files: Sequence[tuple[str, bytes]]):
        super().__init__()
        if not files:
            raise SourceError("no files were uploaded")
        self.files = list(files)

    @property
    def name(self) -> str:
        return ", ".join(n for n, _ in self.files)

    def streams(self):
        for name, data in self.files:
            yield name, io.BytesIO(data)


def parse_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise SourceError(f"{url!r} is not an S3 URL (s3://bucket/prefix)")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise SourceError(f"{url!r} names no bucket")
    return bucket, prefix


@dataclass
class S3Options:
    """How to reach S3. Credentials come from boto3's standard chain, never from here."""

    region: Optional[str] = None
    profile: Optional[str] = None
    endpoint_url: Optional[str] = None
    max_attempts: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


def s3_client(options: S3Options = S3Options()):
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=options.profile) if options.profile else boto3.Session()
    config = Config(retries={"max_attempts": options.max_attempts, "mode": "standard"},
                    connect_timeout=options.connect_timeout, read_timeout=options.read_timeout)
    return session.client("s3", region_name=options.region, endpoint_url=options.endpoint_url,
                          config=config)


def s3_error(exc: Exception, where: str) -> SourceError:
    """A message a user can act on, for anything boto3 raises. Never shows secrets."""
    from botocore import exceptions as bx

    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return SourceError(f"{where}: no AWS credentials found (set a profile, environment "
                           "variables or an instance role)")
    if isinstance(exc, bx.ProfileNotFound):
        return SourceError(f"{where}: AWS profile not found: {exc.kwargs.get('profile')}")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return SourceError(f"{where}: cannot reach the S3 endpoint ({type(exc).__name__}); "
                           "check the endpoint URL and the network")
    if isinstance(exc, bx.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        messages = {
            "NoSuchBucket": "the bucket does not exist",
            "NoSuchKey": "the object does not exist",
            "404": "not found",
            "AccessDenied": "access denied: the credentials may not read this bucket or prefix",
            "403": "access denied: the credentials may not read this bucket or prefix",
            "InvalidAccessKeyId": "the access key id is not valid",
            "SignatureDoesNotMatch": "the secret key does not match the access key id",
            "SlowDown": "S3 is throttling requests; retried and gave up, try again later",
            "Throttling": "S3 is throttling requests; retried and gave up, try again later",
        }
        text = messages.get(code) or messages.get(str(status)) or f"S3 error {code or status}"
        return SourceError(f"{where}: {text}")
    if isinstance(exc, bx.BotoCoreError):
        return SourceError(f"{where}: {type(exc).__name__}")
    return SourceError(f"{where}: {exc}")


@dataclass
class S3Object:
    key: str
    size: int


class S3Source(LogSource):
    """Objects under s3://bucket/prefix (or a list of keys), streamed line by line."""

    def __init__(self, url: str, options: S3Options = S3Options(), *,
                 keys: Optional[Sequence[str]] = None, client=None):
        super().__init__()
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.options = options
        self.keys = list(keys) if keys is not None else None
        self._client = client

    @property
    def name(self) -> str:
        return self.url

    @property
    def client(self):
        if self._client is None:
            self._client = s3_client(self.options)
        return self._client

    def list_objects(self) -> list[S3Object]:
        """Every object under the prefix, through the paginator (any number of pages)."""
        from botocore.exceptions import BotoCoreError, ClientError

        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                found += [S3Object(o["Key"], o["Size"]) for o in page.get("Contents", [])
                          if not o["Key"].endswith("/")]
        except (BotoCoreError, ClientError) as exc:
            raise s3_error(exc, self.url) from None
        return found

    def streams(self):
        from botocore.exceptions import BotoCoreError, ClientError

        keys = self.keys if self.keys is not None else [o.key for o in self.list_objects()]
        if not keys:
            raise SourceError(f"{self.url}: no objects under this prefix")
        for key in keys:
            where = f"s3://{self.bucket}/{key}"
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            except (BotoCoreError, ClientError) as exc:
                raise s3_error(exc, where) from None
            yield where, body


def open_source(spec: str, s3: S3Options = S3Options()) -> LogSource:
    """A source from what a user typed: s3://..., a folder, a glob, or a file."""
    if spec.startswith("s3://"):
        return S3Source(spec, s3)
    if os.path.isdir(spec) or any(c in spec for c in "*?["):
        return LocalGlobSource(spec)
    return LocalFileSource(spec)
