"""The trained model and its directory on disk.

A model directory holds
  config.json        every hyperparameter, the vocabulary, the key templates, a
                     fingerprint of the training data, the library version, the
                     validation metrics, and the sha256 of the weights file
  model.safetensors  the weights: plain tensors, no pickle, so loading one can never
                     run code
  parser.json        for models trained on raw logs: the log format and the mined
                     templates, so detection maps new lines onto the same keys
Loading checks the format marker, the weights' checksum and every tensor's name and
shape, and refuses anything else with a ModelFileError.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig, TrainConfig
from .errors import ConfigError, ModelFileError
from .model import build_net, member_nets
from .vocab import Vocabulary

FORMAT = "deeplog-model"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PARSER_FILE = "parser.json"


def library_version() -> str:
    from . import __version__
    return __version__


@dataclass
class DeepLogModel:
    """A fitted log-key model: its configuration and everything it learned."""

    config: ModelConfig
    vocab: Vocabulary
    net: torch.nn.Module   # model.LogKeyLSTM, or a LogKeyEnsemble of them
    train_config: TrainConfig = field(default_factory=TrainConfig)
    metrics: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    templates: dict = field(default_factory=dict)
    created: str = ""
    library_version: str = ""
    parser_state: dict = field(default_factory=dict)   # raw-log templates (parsing.LogParser)
    value_model: Optional[object] = None   # params.ParamValueModel beside it, when loaded with it

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device) -> "DeepLogModel":
        self.net.to(device)
        return self

    def member(self, k: int) -> "DeepLogModel":
        """LSTM k of an ensemble as a model of its own (sharing its weights): member 0 is the
        single-LSTM model the same seed trains (bench/ compares the two in one run)."""
        nets = member_nets(self.net)
        if not 0 <= k < len(nets):
            raise ConfigError(f"member {k}: the model has {len(nets)} LSTM(s)")
        members = self.metrics.get("members")
        return DeepLogModel(
            config=replace(self.config, members=1), vocab=self.vocab, net=nets[k],
            train_config=self.train_config, metrics=dict(members[k]) if members else dict(self.metrics),
            data=self.data, templates=self.templates, created=self.created,
            library_version=self.library_version, parser_state=self.parser_state)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_model_dir(model_dir) -> Path:
    """Create a model directory and make sure it can be written: before training, not after."""
    model_dir = Path(model_dir)
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelFileError(f"cannot create model directory {model_dir}: {exc.strerror}") from None
    if not os.access(model_dir, os.W_OK):
        raise ModelFileError(f"model directory {model_dir} is not writable")
    return model_dir


def save_model(model: DeepLogModel, model_dir) -> Path:
    """Write `model` to `model_dir` (created if needed); weights first, config last."""
    model_dir = prepare_model_dir(model_dir)
    weights = model_dir / WEIGHTS_FILE
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.net.state_dict().items()}
    _atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": model.library_version or library_version(),
        "created": model.created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model.config.to_dict(),
        "train": model.train_config.to_dict(),
        "vocabulary": model.vocab.to_list(),
        "templates": model.templates,
        "data": model.data,
        "metrics": model.metrics,
        "weights": {"file": WEIGHTS_FILE, "sha256": _sha256(weights)},
    }
    if model.parser_state:
        parser_text = json.dumps(model.parser_state, indent=1)
        _atomic_write(model_dir / PARSER_FILE, lambda tmp: Path(tmp).write_text(parser_text))
        doc["parser"] = {"file": PARSER_FILE, "sha256": _sha256(model_dir / PARSER_FILE)}
    else:
        (model_dir / PARSER_FILE).unlink(missing_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False)
    _atomic_write(model_dir / CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
    return model_dir


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available here")
    return torch.device(device)


def read_model_doc(path: Path, fmt: str, version: int, what: str) -> dict:
    """The JSON document of a model file, checked to be `fmt` at `version`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ModelFileError(f"{path}: not a DeepLog {what} file")
    if doc.get("format_version") != version:
        raise ModelFileError(f"{path}: {what} format version {doc.get('format_version')!r}; "
                             f"this library reads version {version}")
    return doc


def load_model(model_dir, device: str = "auto") -> DeepLogModel:
    """Load a model directory written by save_model, refusing anything else."""
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise ModelFileError(f"{model_dir}: not a model directory (no {CONFIG_FILE})")
    doc = read_model_doc(config_path, FORMAT, FORMAT_VERSION, "model")
    try:
        config = ModelConfig.from_dict(doc["model"])
        # How a model was trained does not change what it computes: fields a newer or
        # older version wrote are dropped rather than refusing the model.
        known = {f.name for f in fields(TrainConfig)}
        train_config = TrainConfig.from_dict(
            {k: v for k, v in doc.get("train", {}).items() if k in known})
        vocab = Vocabulary(doc["vocabulary"])
        expected_sha = doc["weights"]["sha256"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{config_path}: incomplete or invalid model config ({exc})") from None
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileError(f"{model_dir}: weights file {WEIGHTS_FILE} is missing")
    if _sha256(weights) != expected_sha:
        raise ModelFileError(
            f"{weights}: checksum does not match config.json; the file was altered or replaced")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights}: not a safetensors weights file ({exc})") from None
    net = build_net(len(vocab), config)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights}: weights do not fit the configured model ({exc})") from None
    net.eval()
    parser_state = {}
    if "parser" in doc:
        parser_path = model_dir / PARSER_FILE
        if not parser_path.is_file() or _sha256(parser_path) != doc["parser"].get("sha256"):
            raise ModelFileError(f"{parser_path}: missing or altered (checksum does not match)")
        try:
            parser_state = json.loads(parser_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{parser_path}: not valid JSON ({exc})") from None
    return DeepLogModel(
        config=config, vocab=vocab, net=net.to(resolve_device(device)),
        train_config=train_config, metrics=doc.get("metrics", {}), data=doc.get("data", {}),
        templates=doc.get("templates", {}), created=doc.get("created", ""),
        library_version=doc.get("library_version", ""), parser_state=parser_state,
    )
