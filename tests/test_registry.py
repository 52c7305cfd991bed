"""The model registry: versions with parents, one active per lineage, rollback."""

import threading

import pytest

from deeplog_core import load_model
from deeplog_core.errors import ConfigError, ModelFileError
from deeplog_core.registry import ModelRegistry
from deeplog_core.store import Store


@pytest.fixture
def registry(tmp_path):
    return ModelRegistry(Store(tmp_path / "s.db"), tmp_path / "models")


def test_register_saves_versions_in_order_and_activates(registry, grammar_model):
    v1 = registry.register(grammar_model, "grammar", dataset="train.csv")
    v2 = registry.register(grammar_model, "grammar", parent=v1.version, kind="update")
    assert (v1.version, v2.version) == ("grammar-v1", "grammar-v2")
    assert registry.active("grammar").version == "grammar-v2"
    assert [v.active for v in registry.list("grammar")] == [False, True]
    assert registry.get("grammar-v2").parent == "grammar-v1"
    assert v1.fingerprint == grammar_model.data["fingerprint"] and "history" not in v1.metrics
    assert v1.metrics["best_epoch"] == grammar_model.metrics["best_epoch"]
    loaded = registry.load("grammar-v2")
    assert loaded.vocab == grammar_model.vocab
    assert not list((registry.root / "grammar").glob(".staging-*"))


def test_activate_and_rollback_are_one_call_each(registry, grammar_model):
    v1 = registry.register(grammar_model, "g")
    v2 = registry.register(grammar_model, "g", parent=v1.version)
    v3 = registry.register(grammar_model, "g", parent=v2.version, activate=False)
    assert registry.active("g").version == v2.version
    assert registry.activate(v3.version).active
    assert registry.rollback("g").version == v2.version
    assert registry.rollback("g").version == v1.version
    with pytest.raises(ConfigError, match="first version"):
        registry.rollback("g")
    assert registry.active("g").version == v1.version


def test_lineages_are_independent(registry, grammar_model):
    registry.register(grammar_model, "a")
    registry.register(grammar_model, "b")
    assert registry.names() == ["a", "b"]
    assert registry.active("a").version == "a-v1" and registry.active("b").version == "b-v1"


def test_registering_a_directory_keeps_it_in_place(registry, saved_model):
    v = registry.register(saved_model, "job")
    assert v.path == str(saved_model.resolve()) and registry.by_path(saved_model).version == "job-v1"


def test_errors_name_the_problem(registry, grammar_model, tmp_path):
    with pytest.raises(ConfigError, match="model name"):
        registry.register(grammar_model, "bad name/../x")
    with pytest.raises(ConfigError, match="no model version"):
        registry.register(grammar_model, "g", parent="g-v9")
    with pytest.raises(ConfigError, match="no model version"):
        registry.activate("nope-v1")
    with pytest.raises(ModelFileError, match="not a model directory"):
        registry.register(tmp_path, "g")
    v = registry.register(grammar_model, "g")
    import shutil
    shutil.rmtree(v.path)
    with pytest.raises(ModelFileError, match="is gone"):
        registry.activate(v.version)
    assert registry.list("g")[0].version == "g-v1"


def test_concurrent_registrations_get_distinct_versions(registry, grammar_model):
    out, errors = [], []

    def reg():
        try:
            out.append(registry.register(grammar_model, "c").version)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reg) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and sorted(out) == [f"c-v{i}" for i in range(1, 5)]
    for v in registry.list("c"):
        load_model(v.path, device="cpu")
