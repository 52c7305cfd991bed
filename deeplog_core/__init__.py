"""deeplog_core: DeepLog (Du et al., CCS 2017) for system logs, as a library.

Public API
    read_sessions, parse_sessions      session files -> SessionSet (format detected)
    Session, SessionSet                sessions of log keys, with labels when known
    ModelConfig, TrainConfig           frozen hyperparameter dataclasses
    Vocabulary                         keys <-> ids, with PAD / UNK / EOS reserved
    train                              fit the log-key model (LSTMs averaged) on normal sessions
    save_model, load_model             the model directory (config.json + safetensors)
    score_sessions, detect             batched top-g detection; Scores / SessionVerdict
    evaluate_scores                    TP/FP/TN/FN, precision, recall, F1, FPR
    model_fn, input_fn, predict_fn, output_fn   SageMaker-style serving handlers
It never imports streamlit: the dashboard in app/ is one client among others.
"""

__version__ = "0.1.0"

from .artifacts import DeepLogModel, load_model, save_model
from .config import ModelConfig, TrainConfig
from .detect import EventVerdict, Scores, SessionVerdict, detect, score_sessions
from .errors import ConfigError, DataFormatError, DeepLogError, ModelFileError
from .evaluate import evaluate_scores
from .readers import parse_sessions, read_sessions
from .serving import input_fn, model_fn, output_fn, predict_fn
from .sessions import Session, SessionSet
from .training import train
from .vocab import Vocabulary

__all__ = [
    "ConfigError", "DataFormatError", "DeepLogError", "DeepLogModel", "EventVerdict",
    "ModelConfig", "ModelFileError", "Scores", "Session", "SessionSet", "SessionVerdict",
    "TrainConfig", "Vocabulary", "detect", "evaluate_scores", "input_fn", "load_model",
    "model_fn", "output_fn", "parse_sessions", "predict_fn", "read_sessions", "save_model",
    "score_sessions", "train",
]
