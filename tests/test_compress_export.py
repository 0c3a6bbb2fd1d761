"""Export and quantization: ONNX with preprocessing metadata, static int8 QDQ, dynamic int8 for
text, and compressed children running through the ``learned`` / ``text_classifier`` operators."""

from __future__ import annotations

import json

import numpy as np
import pytest
import test_learned_ops
from compress_data import bars_set, fast

from factorline.cache import StepCache
from factorline.compress import compress
from factorline.compress.export import op_counts
from factorline.contract.errors import StoreError
from factorline.engine.compiler import compile_pipeline
from factorline.engine.executor import Engine
from factorline.engine.pool import ResourcePool
from factorline.models.compressed import read_metadata, session
from factorline.models.embed import EmbeddingCache
from factorline.models.hub import ModelHub
from factorline.models.store import ModelStore


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """op:black_border.fill -> tiny-cnn -> ONNX fp32 -> int8, in one command."""
    root = tmp_path_factory.mktemp("export")
    data = bars_set(root / "data")
    store, cache = ModelStore(root / "models"), StepCache(root / "cache")
    results = compress("op:black_border.fill", data=data, options=fast(distill="tiny-cnn", quantize="int8", name="bars"),
                       store=store, cache=cache)
    return root, data, store, results


def test_quantize_implies_an_onnx_export_and_names_the_last_child(chain):
    _, _, store, results = chain
    assert [(r.step, r.ref) for r in results] == [("distill", "bars-tiny-cnn@1"), ("export", "bars-tiny-cnn-onnx@1"),
                                                  ("quantize", "bars@1")]
    assert [store.read_card(r.ref)["parent"]["ref"] for r in results] == ["op:black_border@4.fill", "bars-tiny-cnn@1",
                                                                          "bars-tiny-cnn-onnx@1"]
    assert [s["step"] for s in store.read_card("bars")["steps"]] == ["distill", "export", "quantize"]


def test_exported_onnx_carries_its_preprocessing_and_matches_torch(chain):
    _, _, store, results = chain
    export = results[1]
    path = export.path / "model.onnx"
    meta = read_metadata(session(path), path)
    assert meta["classes"] == ["black", "none"] and meta["color_order"] == "RGB" and meta["input"] == "pixels"
    assert meta["preprocess"].size == 32 and meta["preprocess"].resize is None and meta["preprocess"].interpolation == "area"
    assert meta["layout"].startswith("NCHW float32") and json.loads(meta["mean"]) == [0.485, 0.456, 0.406]
    assert export.report["agreement"]["frame"]["agreement"] == 1.0  # same network, another runtime
    assert store.read_card(export.ref)["model"]["precision"] == "fp32"


def test_static_int8_has_qdq_nodes_per_channel_and_runs_in_onnxruntime(chain):
    _, _, store, results = chain
    quant = results[2]
    path = quant.path / "model.onnx"
    counts = op_counts(path)
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] > 0
    step = store.read_card(quant.ref)["steps"][-1]
    assert step == {**step, "mode": "static", "format": "QDQ", "per_channel": True, "weights": "int8"}
    assert step["calibration"]["split"] == "train" and step["calibration"]["frames"] == 16
    import onnx

    model = onnx.load(str(path))
    scales = [i for i in model.graph.initializer if i.name.endswith("_scale") and len(i.dims) == 1 and i.dims[0] > 1]
    assert scales  # per-channel weight scales
    sess = session(path)
    out = sess.run(None, {"pixels": np.zeros((3, 3, 32, 32), np.float32)})[0]
    assert out.shape == (3, 2)
    assert quant.report["child"]["size_bytes"] < quant.report["parent"]["size_bytes"]
    assert read_metadata(sess, path)["precision"] == "int8 static QDQ per-channel"


def test_compressed_children_run_through_the_learned_operator_in_a_pipeline(chain, monkeypatch):
    _, data, store, _ = chain
    monkeypatch.setenv("FACTORLINE_MODELS", str(store.root))
    doc = {"name": "student", "input": "image",
           "steps": {"border": {"op": "black_border"}, "fast": {"op": "learned", "params": {"model": "bars"}},
                     "torch": {"op": "learned", "params": {"model": "bars-tiny-cnn"}}},
           "decisions": {"gate": {"on_missing": "review", "on_error": "review",
                                  "rules": [{"id": "bars", "when": "fast.label == 'black'", "outcome": "review"},
                                            {"id": "ok", "default": True, "outcome": "accept"}]}}}
    plan = compile_pipeline(doc)
    assert plan.steps[1].params.model in {"bars@1", "bars-tiny-cnn@1"}  # pinned at compile time
    engine = Engine(plan, resources=ResourcePool({"models": ModelHub(store, EmbeddingCache())}))
    test = {d for d, _ in store.read_card("bars")["data"]["splits"]["test"]["items"]}
    records = [engine.run_item(p) for p in sorted(data.iterdir())]
    held = [r for r in records if r["item"]["id"] in test]
    assert len(held) == 10 and all(r["error"] is None for r in held)
    agree = np.mean([r["factors"]["fast"]["label"] == r["factors"]["border"]["fill"] for r in held])
    assert agree >= 0.8  # the int8 student stands in for the operator it was distilled from
    assert all(r["factors"]["fast"]["classes"] == ["black", "none"] for r in held)
    assert {r["decisions"]["gate"]["outcome"] for r in records} == {"review", "accept"}
    assert np.mean([r["factors"]["fast"]["label"] == r["factors"]["torch"]["label"] for r in records]) >= 0.9


def test_an_onnx_file_without_metadata_is_refused(chain, tmp_path):
    _, _, _, results = chain
    import onnx

    model = onnx.load(str(results[1].path / "model.onnx"))
    del model.metadata_props[:]
    onnx.save(model, str(tmp_path / "bare.onnx"))
    with pytest.raises(StoreError, match=r"carries no factorline preprocessing metadata.*--export onnx"):
        read_metadata(session(tmp_path / "bare.onnx"), tmp_path / "bare.onnx")


def test_a_tampered_child_is_refused_on_load(chain):
    _, _, store, results = chain
    path = results[2].path / "report.json"
    path.write_text(path.read_text().replace('"published"', '"PUBLISHED"'))
    with pytest.raises(StoreError, match=r"report.json checksum mismatch"):
        store.load(results[2].ref)


# The learned-operator tests' store: a head on effnet-lite0 (digit 0 vs 1, 16 pictures) and one
# on MiniLM (ad vs news, 8 texts, positive class "ad"), both from `factorline train`.
trained_models = pytest.fixture(scope="module", name="trained_models")(test_learned_ops.store.__wrapped__)


def test_a_trained_effnet_head_exports_as_one_network_that_agrees(trained_models, tmp_path):
    store, cache = trained_models, StepCache(tmp_path / "cache")
    (child,) = compress("digits", options=fast(export="onnx"), store=store, cache=cache)
    report = child.report
    assert report["parent"]["kind"] == "head" and report["held_out"]["labeled_items"] == report["held_out"]["items"] == 4
    assert report["gate"]["metric"] == "accuracy" and report["gate"]["drop_points"] == 0.0
    assert report["agreement"]["frame"]["agreement"] == 1.0  # backbone + head in one graph, same preprocessing
    meta = read_metadata(session(child.path / "model.onnx"), child.path / "model.onnx")
    assert meta["preprocess"].size == 224 and meta["preprocess"].resize == 256  # the backbone's own rule
    assert report["parent"]["parameters"] > 3_000_000 and report["child"]["parameters"] > 3_000_000


def test_a_minilm_text_head_is_quantized_dynamically_and_classifies_text(trained_models, tmp_path, monkeypatch):
    store, cache = trained_models, StepCache(tmp_path / "cache")
    export, quant = compress("adnews", options=fast(quantize="int8"), store=store, cache=cache)
    counts = op_counts(quant.path / "model.onnx")
    assert counts.get("DynamicQuantizeLinear", 0) > 0 and counts.get("MatMulInteger", 0) > 0
    assert quant.report["params"]["mode"] == "dynamic"
    assert export.report["agreement"]["item"]["agreement"] == 1.0  # the ONNX graph is the head on MiniLM
    assert quant.report["agreement"]["item"]["agreement"] == 1.0 and quant.report["gate"]["metric"] == "accuracy"
    assert (quant.path / "tokenizer" / "tokenizer.json").is_file()
    assert quant.report["child"]["size_bytes"] < 0.5 * quant.report["parent"]["size_bytes"]
    monkeypatch.setenv("FACTORLINE_MODELS", str(store.root))
    from factorline.plugins import get_operator

    spec = get_operator("text_classifier")
    from factorline.contract.items import MediaInfo

    item = MediaInfo(id="sha256:" + "1" * 64, path="x.mp4", kind="video", duration_s=1.0, width=8, height=8, fps=1.0)
    out = spec.run({"text": "Buy now, limited offer!\nFree shipping today"}, spec.params(model=quant.ref), item=item,
                   resources={"models": ModelHub(store)})
    assert spec.check_output(out) == [] and out["classes"] == ["ad", "news"] and len(out["line_scores"]) == 2
