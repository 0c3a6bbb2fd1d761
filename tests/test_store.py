"""The model store: atomic versions, references, checksums, cards; heads without pickle."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from factorline.contract.errors import StoreError
from factorline.models.card import card_digest, render_markdown
from factorline.models.heads import Head, linear_from_sklearn, prototype_head
from factorline.models.store import ModelStore


def card(**over) -> dict:
    """A minimal card with every section render_markdown reads."""
    split = {"digest": "sha256:" + "0" * 64, "count": 2, "items": [["sha256:a", "cat"], ["sha256:b", "dog"]]}
    metrics = {"n": 2, "accuracy": 1.0, "accuracy_ci": [0.3, 1.0], "macro_f1": 1.0, "macro_f1_ci": [1.0, 1.0],
               "per_class": {"cat": {"precision": 1.0, "precision_ci": [0.2, 1.0], "recall": 1.0, "recall_ci": [0.2, 1.0],
                                     "f1": 1.0, "support": 1}}}
    body = {
        "task": "image",
        "backbone": {"id": "effnet-lite0", "revision": "r1", "runtime": "torch", "dim": 4},
        "head": {"kind": "linear", "classes": ["cat", "dog"], "positive": "dog", "threshold": 0.5, "threshold_rule": "0.5"},
        "data": {"source": "/data", "format": "folder", "count": 4, "skipped": [], "splits": {"train": split, "test": split}},
        "seeds": [0], "training": {"head": {"head": "logreg"}},
        "metrics": {"test": metrics, "cv": {"accuracy": {"mean": 1.0, "std": 0.0}}, "folds": 2,
                    "seeds": {"accuracy": {"mean": 1.0, "std": 0.0}}, "baselines": {"majority": {"accuracy": 0.5, "macro_f1": 0.33}}},
        "provenance": {"git_commit": "abc", "packages": {"numpy": "2"}},
    }
    body.update(over)
    return body


def head(dim: int = 4, classes=("cat", "dog")) -> Head:
    rng = np.random.default_rng(0)
    return Head("linear", list(classes), {"weight": rng.normal(size=(len(classes), dim)), "bias": np.zeros(len(classes))})


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "models")


def test_save_writes_a_version_folder_with_safetensors_card_and_checksums(store):
    saved = store.save("cats", head(), card())
    assert saved.path == store.root / "cats" / "v1"
    assert sorted(p.name for p in saved.path.iterdir()) == ["card.json", "card.md", "head.safetensors"]
    on_disk = json.loads((saved.path / "card.json").read_text())
    assert on_disk["name"] == "cats" and on_disk["version"] == 1 and on_disk["format"] == "factorline.model/1"
    assert set(on_disk["checksums"]) == {"head.safetensors", "card.md"}
    assert on_disk["card_digest"] == card_digest(on_disk)
    assert not (saved.path / "head.safetensors").read_bytes().startswith(b"\x80")  # not a pickle
    assert "# cats v1" in (saved.path / "card.md").read_text()


def test_versions_grow_and_references_resolve(store):
    store.save("cats", head(), card())
    store.save("cats", head(), card())
    assert store.versions("cats") == [1, 2]
    assert store.resolve("cats").name == "v2" and store.resolve("cats@1").name == "v1" and store.resolve("cats@latest").name == "v2"
    assert store.pin("cats") == "cats@2"
    folder = store.resolve("cats@1")
    assert store.resolve(str(folder)) == folder.resolve() and store.pin(str(folder)) == str(folder.resolve())
    loaded = store.load("cats@1")
    assert loaded.ref == "cats@1" and loaded.threshold == 0.5 and loaded.positive == "dog"
    x = np.random.default_rng(1).normal(size=(3, 4))
    assert np.allclose(loaded.head.predict_proba(x), head().predict_proba(x))


@pytest.mark.parametrize("ref, match", [
    ("dogs", r"no model 'dogs' in the store at .*models there: cats"),
    ("cats@7", r"model 'cats' has no version '7'; versions: \[1\]"),
    ("cats@x", r"has no version 'x'"),
])
def test_bad_references_say_what_exists(store, ref, match):
    store.save("cats", head(), card())
    with pytest.raises(StoreError, match=match):
        store.resolve(ref)


def test_bad_names_are_refused(store):
    with pytest.raises(StoreError, match="expected lower-case letters"):
        store.save("Cats/../x", head(), card())


def test_concurrent_saves_get_distinct_versions(store):
    errors = []

    def save():
        try:
            store.save("race", head(), card())
        except Exception as exc:  # noqa: BLE001 - any failure is reported below
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.versions("race") == [1, 2, 3, 4, 5, 6]
    assert not [p for p in (store.root / "race").iterdir() if p.name.startswith(".")]  # no temp folders left


def test_tampered_head_is_refused_on_load(store):
    saved = store.save("cats", head(), card())
    raw = bytearray((saved.path / "head.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (saved.path / "head.safetensors").write_bytes(bytes(raw))
    with pytest.raises(StoreError, match=r"head.safetensors checksum mismatch: card says sha256:\w+, file has sha256:\w+"):
        store.load("cats")


def test_edited_card_is_refused_on_load(store):
    saved = store.save("cats", head(), card())
    body = json.loads((saved.path / "card.json").read_text())
    body["metrics"]["test"]["accuracy"] = 0.99
    (saved.path / "card.json").write_text(json.dumps(body))
    with pytest.raises(StoreError, match="card.json was modified after it was written"):
        store.load("cats")


def test_missing_file_is_named(store):
    saved = store.save("cats", head(), card())
    (saved.path / "card.md").unlink()
    with pytest.raises(StoreError, match=r"card.md is missing; the card lists it"):
        store.load("cats")


def test_list_summarises_every_version(store):
    store.save("cats", head(), card())
    store.save("cats", head(), card())
    store.save("birds", head(), card(task="text"))
    rows = store.list()
    assert [(r["name"], r["version"]) for r in rows] == [("birds", 1), ("cats", 2), ("cats", 1)]
    assert rows[0]["task"] == "text" and rows[1]["accuracy"] == 1.0 and rows[1]["classes"] == ["cat", "dog"]


def test_empty_or_missing_store_lists_nothing(tmp_path):
    assert ModelStore(tmp_path / "nowhere").list() == []


def test_default_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FACTORLINE_MODELS", str(tmp_path / "elsewhere"))
    assert ModelStore().root == tmp_path / "elsewhere"


# ------------------------------------------------------------------ heads


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sklearn_logistic_regression_converts_exactly(tmp_path, n_classes):
    from sklearn.linear_model import LogisticRegression

    from factorline.models.heads import l2_normalize

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    y = rng.integers(0, n_classes, 60)
    model = LogisticRegression(C=3.0, max_iter=1000).fit(l2_normalize(x), y)
    converted = linear_from_sklearn(model, [f"c{i}" for i in range(n_classes)])
    converted.save(tmp_path / "h.safetensors")
    loaded = Head.load(tmp_path / "h.safetensors")
    assert np.abs(loaded.predict_proba(x) - model.predict_proba(l2_normalize(x))).max() < 1e-6


def test_mlp_and_prototype_heads_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    mlp = Head("mlp", ["a", "b", "c"], {"w1": rng.normal(size=(8, 4)), "b1": rng.normal(size=8),
                                        "w2": rng.normal(size=(3, 8)), "b2": rng.normal(size=3)})
    proto = prototype_head(rng.normal(size=(6, 4)), np.array([0, 0, 1, 1, 2, 2]), ["a", "b", "c"])
    x = rng.normal(size=(5, 4))
    for h in (mlp, proto):
        h.save(tmp_path / f"{h.kind}.safetensors")
        again = Head.load(tmp_path / f"{h.kind}.safetensors")
        assert again.kind == h.kind and again.classes == ["a", "b", "c"]
        assert np.allclose(again.predict_proba(x), h.predict_proba(x)) and np.allclose(h.predict_proba(x).sum(1), 1)


def test_head_refuses_inconsistent_tensors():
    with pytest.raises(StoreError, match=r"linear head misses tensor\(s\) \['bias'\]"):
        Head("linear", ["a", "b"], {"weight": np.zeros((2, 3))})
    with pytest.raises(StoreError, match="has 3 output rows for 2 classes"):
        Head("linear", ["a", "b"], {"weight": np.zeros((3, 3)), "bias": np.zeros(3)})
    with pytest.raises(ValueError, match=r"head expects \(N, 3\) embeddings, got \(2, 4\)"):
        head(3).predict_proba(np.zeros((2, 4)))


def test_a_pickle_is_not_a_head(tmp_path):
    import pickle

    (tmp_path / "h.safetensors").write_bytes(pickle.dumps({"weight": [1, 2]}))
    with pytest.raises(StoreError, match="not a readable safetensors head"):
        Head.load(tmp_path / "h.safetensors")


def test_markdown_card_shows_metrics_and_lineage():
    text = render_markdown({**card(), "name": "cats", "version": 3, "created": "today"})
    assert "# cats v3" in text and "| accuracy | 1.0000 | [0.300, 1.000] |" in text
    assert "git commit `abc`" in text and "factorline eval cats@3" in text


def test_forged_card_dropping_a_file_from_its_checksums_is_refused(store):
    # a forged card: the head's entry removed and the card digest recomputed, so the digest
    # check passes; the head file is then loaded unchecked unless every file must be listed
    from factorline.models.store import card_digest

    saved = store.save("cats", head(), card())
    body = json.loads((saved.path / "card.json").read_text())
    del body["checksums"]["head.safetensors"]
    body["card_digest"] = card_digest(body)
    (saved.path / "card.json").write_text(json.dumps(body))
    with pytest.raises(StoreError, match=r"head.safetensors is not covered by the card's checksums \(1 file\(s\) unlisted\)"):
        store.load("cats")
    # a stray file dropped into the folder is refused the same way
    other = store.save("dogs", head(), card())
    (other.path / "extra.bin").write_bytes(b"\0")
    with pytest.raises(StoreError, match=r"extra.bin is not covered by the card's checksums"):
        store.load("dogs")
