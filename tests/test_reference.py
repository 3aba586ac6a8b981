"""toobig's GPT, gradients and optimizer against references that share no code with it:
a torch.nn GPT written from nanoGPT's architecture (tests/reference/gpt.py), HF transformers'
GPT2LMHeadModel, torch.optim.AdamW and torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from toobig import model as gpt
from toobig.config import ModelConfig
from toobig.engine import rng
from toobig.engine.population import MemberDropout, Population, member_losses
from toobig.options import RunOptions
from toobig.training import train

from .conftest import tiny
from .reference.gpt import ReferenceGPT, reference_lr

VOCAB = 17
SEEDS = (3, 11, 29)
SHAPES = {
    "n14": ModelConfig(n_layer=1, n_head=1, n_embd=14, mlp_ratio=1, block_size=9),
    "2-layer-2-head": ModelConfig(n_layer=2, n_head=2, n_embd=12, mlp_ratio=3, block_size=9),
}


def _members(cfg: ModelConfig, dtype=torch.float64) -> list[dict[str, torch.Tensor]]:
    return [{n: t.to(dtype) for n, t in gpt.init_member(cfg, VOCAB, s).items()} for s in SEEDS]


def _reference(cfg: ModelConfig, weights: dict[str, torch.Tensor], dtype=torch.float64) -> ReferenceGPT:
    ref = ReferenceGPT(VOCAB, cfg.block_size, cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.mlp_ratio).to(dtype)
    missing, unexpected = ref.load_state_dict(weights, strict=False)
    assert set(missing) == {"lm_head.weight"} and not unexpected  # lm_head is tied to wte
    return ref


def _batch(k: int, batch: int = 5, block: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (k, batch, block + 1), generator=gen)
    return tokens[..., :-1].contiguous(), tokens[..., 1:].contiguous()


class ReferenceDropout:
    """Dropout written again: the member's uniforms (its random numbers are data here), with the
    mask and the 1/(1-p) rescale applied by this test, sites counted in nanoGPT's order."""

    def __init__(self, key: torch.Tensor, iteration: int, p: float):
        self.key, self.iteration, self.p, self.site = key.view(1), iteration, p, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.site += 1
        element = torch.arange(x.numel()).view(1, *x.shape)
        u = rng.uniform(self.key, rng.STREAM_DROPOUT, self.iteration, self.site, element)[0]
        keep = (u >= self.p).to(x.dtype)
        return x * keep / (1.0 - self.p)


def _population_grads(cfg, members, x, y, dropout):
    params = {n: t.clone().requires_grad_(True) for n, t in gpt.stack_members(members).items()}
    losses = member_losses(params, x, y, cfg, dropout)
    losses.sum().backward()
    return losses.detach(), {n: p.grad for n, p in params.items()}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_members_equal_independent_gpt_logits_and_gradients_float64(shape, p):
    cfg = replace(SHAPES[shape], dropout=p)
    members = _members(cfg)
    x, y = _batch(len(members))
    keys = rng.member_keys(list(SEEDS))
    iteration = 17
    stacked = gpt.stack_members(members)
    if p == 0:
        logits = gpt.head(stacked, gpt.hidden_states(stacked, x, cfg))
    losses, grads = _population_grads(cfg, members, x, y, MemberDropout(keys, iteration, p) if p else None)
    for k, weights in enumerate(members):
        ref = _reference(cfg, weights)
        drop = ReferenceDropout(keys[k], iteration, p) if p else (lambda t: t)
        if p == 0:
            torch.testing.assert_close(logits[k], ref(x[k]), rtol=1e-12, atol=1e-12)
        loss = ref.loss(x[k], y[k], drop)
        loss.backward()
        torch.testing.assert_close(losses[k], loss.detach(), rtol=1e-12, atol=1e-12)
        ref_grads = dict(ref.named_parameters())
        for name, grad in grads.items():
            torch.testing.assert_close(grad[k], ref_grads[name].grad, rtol=1e-10, atol=1e-12, msg=name)


def _is_conv1d(name: str) -> bool:
    """HF GPT-2's Conv1D layers store (in, out): the transpose of nanoGPT's Linear weights."""
    return name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight"))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_members_equal_hf_gpt2_logits_and_gradients_float64(shape):
    transformers = pytest.importorskip("transformers")
    cfg = SHAPES[shape]
    hf_config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=cfg.block_size, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
        n_head=cfg.n_head, n_inner=cfg.mlp_ratio * cfg.n_embd, activation_function="gelu",
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=0,
    )
    members = _members(cfg)
    x, y = _batch(len(members))
    losses, grads = _population_grads(cfg, members, x, y, None)
    stacked = gpt.stack_members(members)
    logits = gpt.head(stacked, gpt.hidden_states(stacked, x, cfg))
    for k, weights in enumerate(members):
        hf = transformers.GPT2LMHeadModel(hf_config).double().eval()
        hf_params = dict(hf.named_parameters())
        with torch.no_grad():
            for name, p in hf_params.items():
                if name.endswith(".bias"):
                    p.zero_()  # toobig's GPT has no biases
                elif name == "lm_head.weight":
                    continue  # tied
                else:
                    w = weights[name]
                    p.copy_(w.T if _is_conv1d(name) else w)
        assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()
        out = hf(input_ids=x[k]).logits
        torch.testing.assert_close(logits[k], out, rtol=1e-10, atol=1e-10)
        loss = torch.nn.functional.cross_entropy(out.view(-1, VOCAB), y[k].view(-1))
        loss.backward()
        torch.testing.assert_close(losses[k], loss.detach(), rtol=1e-12, atol=1e-12)
        for name, grad in grads.items():
            ref = hf_params[name].grad
            ref = ref.T if _is_conv1d(name) else ref
            torch.testing.assert_close(grad[k], ref, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("seeds", [SEEDS[:1], SEEDS])
def test_optimizer_steps_equal_torch_adamw_with_nanogpt_groups_clipping_and_schedule(seeds):
    config = tiny(batch_size=16, weight_decay=0.5, grad_clip=0.2)
    config = replace(config, train=replace(config.train, warmup_iters=3, lr_decay_iters=7, min_lr=1e-3))
    tc, steps = config.train, 9  # warmup, cosine decay and the floor after lr_decay_iters
    pop = Population(config, list(seeds), VOCAB, torch.device("cpu"))
    refs = [_reference(config.model, gpt.init_member(config.model, VOCAB, s), torch.float32) for s in seeds]
    optims = [
        torch.optim.AdamW(r.decay_groups(tc.weight_decay), lr=tc.learning_rate, betas=(tc.beta1, tc.beta2), eps=tc.eps)
        for r in refs
    ]
    gen = torch.Generator().manual_seed(5)
    data = torch.randint(0, VOCAB, (400,), generator=gen)
    span = torch.arange(config.model.block_size)
    for it in range(steps):
        offsets = torch.randint(0, data.numel() - config.model.block_size, (len(seeds), tc.batch_size, 1), generator=gen)
        windows = offsets + span
        losses = pop.train_step(it, data[windows], data[windows + 1])
        lr = reference_lr(it, tc.learning_rate, tc.min_lr, tc.warmup_iters, tc.lr_decay_iters)
        assert pop.learning_rate() == pytest.approx(lr, rel=1e-12)
        for k, (ref, opt) in enumerate(zip(refs, optims)):
            for group in opt.param_groups:
                group["lr"] = lr
            loss = ref.loss(data[windows[k]], data[windows[k] + 1])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ref.parameters(), tc.grad_clip)
            opt.step()
            opt.zero_grad()
            torch.testing.assert_close(losses[k], loss.detach(), rtol=1e-5, atol=1e-6)
    for k, ref in enumerate(refs):
        for name, want in ref.named_parameters():
            if name == "lm_head.weight":
                continue
            torch.testing.assert_close(pop.params[name][k].detach(), want.detach(), rtol=1e-4, atol=2e-6, msg=name)


def test_logged_learning_rate_is_the_optimizers_and_follows_nanogpt_schedule(tmp_path):
    config = tiny(iters=40, interval=5)
    config = replace(config, train=replace(config.train, warmup_iters=12, lr_decay_iters=30))
    tc = config.train
    (run,) = train(config, [1], tmp_path, RunOptions(device="cpu", progress=False))
    for record in run.read_metrics():
        want = reference_lr(record["iter"], tc.learning_rate, tc.min_lr, tc.warmup_iters, tc.lr_decay_iters)
        assert record["lr"] == pytest.approx(want, rel=1e-12)
