"""Exported checkpoints load in independent code with toobig's logits: HF transformers'
GPT2LMHeadModel.from_pretrained, and a nanoGPT-style torch.nn GPT (tests/reference/gpt.py)."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

import toobig
from toobig import model as gpt
from toobig.cli import main
from toobig.inference import load_trained
from toobig.store import RunDir

from .reference.gpt import ReferenceGPT


@pytest.fixture(scope="module", params=["arithmetic-n14", "capitals-L2H2C12R3"])
def run(request, tmp_path_factory):
    task, model = request.param.split("-")
    cfg = toobig.config(task, model, iters=30, eval_interval=30, num_samples=1)
    (run,) = toobig.train(cfg, seeds=[3], out=tmp_path_factory.mktemp("export"), device="cpu", progress=False)
    # A short run's weights are near their small initialization, where GELU's tanh approximation
    # and exact GELU agree to 1e-5: scale them up so the logits tell every detail apart.
    store = RunDir(run.path)
    weights = store.load_checkpoint("best")
    generator = torch.Generator().manual_seed(0)
    scaled = {n: 1 + torch.randn(w.shape, generator=generator) if "ln_" in n else w * 25
              for n, w in weights.items()}
    store.save_checkpoint("best", scaled, store.checkpoint_metadata("best"))
    return run


def _toobig_logits(run, ids: torch.Tensor) -> torch.Tensor:
    trained = load_trained(run.path, "best", "cpu")
    return gpt.head(trained.params, gpt.hidden_states(trained.params, ids.view(1, 1, -1), trained.config.model))[0, 0]


def _prompt_ids(run, tmp) -> torch.Tensor:
    chars = list(json.loads((tmp / "vocab.json").read_text())) if (tmp / "vocab.json").exists() else None
    text = "<5+7=12>\n<3-"[: run.config.model.block_size] if run.config.task.name == "arithmetic" else "<Paris is the capital of"[: run.config.model.block_size]
    vocab = chars or pickle.loads((tmp / "meta.pkl").read_bytes())["itos"]
    stoi = {c: i for i, c in enumerate(chars)} if chars else {c: i for i, c in vocab.items()}
    return torch.tensor([[stoi[c] for c in text if c in stoi]][0])


def test_hf_export_loads_in_transformers_with_toobigs_logits(run, tmp_path):
    transformers = pytest.importorskip("transformers")
    assert main(["export", str(run.path), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    ids = _prompt_ids(run, tmp_path / "hf")
    with torch.no_grad():
        theirs = hf(input_ids=ids.unsqueeze(0)).logits[0]
    torch.testing.assert_close(theirs, _toobig_logits(run, ids), rtol=1e-5, atol=1e-5)
    assert hf.config.n_inner == run.config.model.mlp_ratio * run.config.model.n_embd


def test_nanogpt_export_loads_in_a_nanogpt_style_model_with_toobigs_logits(run, tmp_path):
    assert main(["export", str(run.path), "--format", "nanogpt", "--out", str(tmp_path / "ng")]) == 0
    ckpt = torch.load(tmp_path / "ng" / "ckpt.pt", weights_only=True)
    args = ckpt["model_args"]
    ref = ReferenceGPT(args["vocab_size"], args["block_size"], args["n_layer"], args["n_head"], args["n_embd"], args["mlp_ratio"])
    ref.load_state_dict(ckpt["model"])  # strict: every name and shape as nanoGPT's
    meta = pickle.loads((tmp_path / "ng" / "meta.pkl").read_bytes())
    assert meta["vocab_size"] == args["vocab_size"] and meta["stoi"][meta["itos"][3]] == 3
    ids = _prompt_ids(run, tmp_path / "ng")
    with torch.no_grad():
        theirs = ref(ids.unsqueeze(0))[0]
    torch.testing.assert_close(theirs, _toobig_logits(run, ids), rtol=1e-5, atol=1e-5)


def test_export_refuses_a_folder_with_files_and_an_unknown_format(run, tmp_path, capsys):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("keep")
    assert main(["export", str(run.path), "--out", str(tmp_path / "used")]) == 2
    assert "is not an empty folder" in capsys.readouterr().err and (tmp_path / "used" / "x").read_text() == "keep"
