"""A run's checkpoint in formats other code loads: HF transformers GPT-2, or nanoGPT.

hf:      config.json + model.safetensors that `GPT2LMHeadModel.from_pretrained(dir)` loads
         (zero biases, n_inner from the MLP ratio, exact GELU, tied head), plus vocab.json.
nanogpt: ckpt.pt ({"model": state dict, "model_args": ...}, as nanoGPT's train.py saves it) and
         meta.pkl ({"vocab_size", "itos", "stoi"}, as its char-level data preparation writes it).
         nanoGPT's own MLP is 4 x n_embd: load it into a model with mlp_ratio x n_embd.
Both carry a README.txt naming the run, its iteration and the character vocabulary.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from safetensors.torch import save_file

from .config import ConfigError
from .inference import TrainedRun, load_trained
from .store import StoreError, atomic_write_bytes, atomic_write_text

FORMATS = ("hf", "nanogpt")

# HF's GPT-2 keeps these in Conv1D layers, stored (in, out): the transpose of nn.Linear's.
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def export_run(run_dir: str | Path, out: str | Path, format: str = "hf", checkpoint: str = "best") -> Path:
    """Write the run's checkpoint into the folder `out` (created; refused if it holds files)."""
    if format not in FORMATS:
        raise ConfigError(f"--format: unknown format {format!r} (allowed: {', '.join(FORMATS)})")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"--out {out} exists and is not an empty folder; choose a new one")
    trained = load_trained(run_dir, checkpoint, "cpu")
    weights = {name: p[0].detach().float().contiguous() for name, p in trained.params.items()}
    out.mkdir(parents=True, exist_ok=True)
    (_write_hf if format == "hf" else _write_nanogpt)(trained, weights, out)
    chars = trained.prepared.tokenizer.chars
    atomic_write_text(out / "README.txt", (
        f"toobig export ({format}) of {trained.run.path}, {checkpoint} checkpoint, iteration {trained.iteration}\n"
        f"configuration: {trained.config.label}, seed {trained.config.seed}\n"
        f"character vocabulary (token id = position): {json.dumps(chars)}\n"
    ))
    return out


def _write_hf(trained: TrainedRun, weights: dict[str, torch.Tensor], out: Path) -> None:
    m = trained.config.model
    tokenizer = trained.prepared.tokenizer
    tensors: dict[str, torch.Tensor] = {}
    for name, w in weights.items():
        tensors[name] = w.T.contiguous() if name.endswith(_CONV1D) else w
        if not name.endswith(("wte.weight", "wpe.weight")):
            # HF's layers all have biases, toobig's none: zeros of the output size (the rows of
            # an nn.Linear weight, the length of a LayerNorm gain).
            tensors[name[: -len("weight")] + "bias"] = torch.zeros(w.shape[0])
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": tokenizer.vocab_size,
        "n_positions": m.block_size,
        "n_embd": m.n_embd,
        "n_layer": m.n_layer,
        "n_head": m.n_head,
        "n_inner": m.mlp_ratio * m.n_embd,
        "activation_function": "gelu",  # exact GELU, as nanoGPT's nn.GELU()
        "layer_norm_epsilon": 1e-5,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "tie_word_embeddings": True,
        "bos_token_id": tokenizer.chars.index("<") if "<" in tokenizer.chars else 0,
        "eos_token_id": tokenizer.chars.index("\n") if "\n" in tokenizer.chars else 0,
    }
    atomic_write_text(out / "config.json", json.dumps(config, indent=2) + "\n")
    atomic_write_text(out / "vocab.json", json.dumps({c: i for i, c in enumerate(tokenizer.chars)}, indent=2) + "\n")


def _write_nanogpt(trained: TrainedRun, weights: dict[str, torch.Tensor], out: Path) -> None:
    m = trained.config.model
    chars = trained.prepared.tokenizer.chars
    state = dict(weights)
    state["lm_head.weight"] = weights["transformer.wte.weight"]  # tied, as nanoGPT saves it
    model_args = dict(n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd, block_size=m.block_size, bias=False,
                      vocab_size=len(chars), dropout=0.0, mlp_ratio=m.mlp_ratio)
    buffer = _torch_bytes({"model": state, "model_args": model_args, "iter_num": trained.iteration,
                           "config": {"toobig_label": trained.config.label, "seed": trained.config.seed}})
    atomic_write_bytes(out / "ckpt.pt", buffer)
    meta = {"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": {c: i for i, c in enumerate(chars)}}
    atomic_write_bytes(out / "meta.pkl", pickle.dumps(meta))


def _torch_bytes(obj: object) -> bytes:
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()
