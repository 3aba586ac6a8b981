"""K models trained in lockstep: stacked weights, per-member batches, clipping and AdamW."""

from __future__ import annotations

import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import torch

from .. import model as gpt
from .. import ops
from ..config import ConfigError, ModelConfig, RunConfig
from . import rng
from .schedule import learning_rate

class MemberDropout:
    """Dropout whose masks are a hash of (member seed, iteration, site, element): member-local.

    With the batch split into shards (batch-major tensors), shard s numbers its elements from
    s * (its size), so the masks are those of the whole batch."""

    def __init__(self, keys: torch.Tensor, iteration: int, p: float, shard: int = 0):
        self.keys, self.iteration, self.p, self.site, self.shard = keys, iteration, p, 0, shard

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.site += 1
        first = self.shard * x[0].numel()
        element = torch.arange(first, first + x[0].numel(), device=x.device).view(1, *x.shape[1:])
        u = rng.uniform(self.keys, rng.STREAM_DROPOUT, self.iteration, self.site, element)
        return x * (u >= self.p) * (1.0 / (1.0 - self.p))


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """bfloat16 autocast where the precision asks for it ("auto": on CUDA only, like the reference)."""
    enabled = precision == "bfloat16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def member_losses(
    params: gpt.Params,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: ModelConfig,
    dropout: gpt.Dropout | None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean next-character cross-entropy of each member on its own batch: (K,). With weights
    (K, B, T), normalized to average 1 per member, the mean of the weighted losses."""
    logits = gpt.head(params, gpt.hidden_states(params, x, cfg, dropout))
    nll = ops.cross_entropy_rows(gpt.at_least_float32(logits.view(-1, logits.size(-1))), y.view(-1))
    nll = nll.view(x.shape[0], -1)
    if weights is not None:
        nll = nll * weights.reshape(x.shape[0], -1).to(nll.dtype)
    return nll.mean(dim=1)


def step_losses(
    params: gpt.Params,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: ModelConfig,
    keys: torch.Tensor,
    iteration: torch.Tensor,
    shard: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """member_losses of one training step, with its dropout masks drawn inside the function.

    The iteration comes as a 0-d CPU tensor: torch.compile then traces one graph for every
    iteration (a Python int would be baked in, one recompile per step), and a CPU scalar reaches
    a GPU kernel as an argument, with no host-to-device copy."""
    dropout = MemberDropout(keys, iteration, cfg.dropout, shard) if cfg.dropout > 0 else None
    return member_losses(params, x, y, cfg, dropout, weights)


def check_batch_shards(config: RunConfig, shards: int) -> None:
    if shards < 1 or config.train.batch_size % shards:
        raise ConfigError(
            f"--batch-shards must divide train.batch_size = {config.train.batch_size} ({config.label}), got {shards}"
        )


class Population:
    """The trainable state of K members sharing one configuration (all but the seed)."""

    def __init__(
        self,
        config: RunConfig,
        seeds: Sequence[int],
        vocab_size: int,
        device: torch.device,
        compile: bool = False,
        batch_shards: int = 1,
    ):
        check_batch_shards(config, batch_shards)
        self.config, self.seeds, self.device = config, list(seeds), device
        self.batch_shards = batch_shards
        # One thread per shard: ATen releases the GIL inside kernels, so the shards' forward and
        # backward passes overlap (docs/performance.md, "batch shards").
        self._pool = None
        if batch_shards > 1:
            self._pool = ThreadPoolExecutor(batch_shards, "toobig-shard")
            weakref.finalize(self, self._pool.shutdown, wait=False)
        self._steps_taken = 0
        self.vocab_size = vocab_size
        members = [gpt.init_member(config.model, vocab_size, s) for s in self.seeds]
        self.params = {
            name: p.to(device).requires_grad_(True) for name, p in gpt.stack_members(members).items()
        }
        self.keys = rng.member_keys(self.seeds, device)
        tc = config.train
        # nanoGPT: weight decay on every tensor of >= 2 dims (per member), none on LayerNorm gains.
        decay = [p for p in self.params.values() if p.dim() >= 3]
        no_decay = [p for p in self.params.values() if p.dim() < 3]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": tc.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=tc.learning_rate,
            betas=(tc.beta1, tc.beta2),
            eps=tc.eps,
            fused=True,
        )
        # torch.compile fuses the many small LayerNorm/softmax/GELU kernels that dominate tiny
        # models, and on CUDA the dropout masks' hash arithmetic with them. On the CPU a graph
        # with dropout takes minutes to build (C++ for the int64 hash), so dropout stays eager.
        # On the CPU the generated graph is driven by a C++ wrapper instead of Python: less
        # per-kernel overhead, and batch shards do not queue for the GIL between kernels.
        self.compiled = compile and (config.model.dropout == 0 or device.type == "cuda")
        options = {"cpp_wrapper": True} if device.type == "cpu" else None
        self._losses = torch.compile(step_losses, dynamic=False, options=options) if self.compiled else step_losses

    @property
    def size(self) -> int:
        return len(self.seeds)

    def train_step(
        self, iteration: int, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One optimizer step on batches x, y (K, B, T), with optional per-target loss weights
        (see member_losses); returns the per-member loss (K,), detached."""
        self.set_learning_rate(iteration)
        if self._pool is None:
            losses = self._shard_losses(iteration, x, y, weights, 0, self.params)
        else:
            losses = self._sharded_losses(iteration, x, y, weights)
        self._steps_taken += 1
        self._clip_gradients(self.config.train.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return losses.detach()

    def set_learning_rate(self, iteration: int) -> float:
        """Write the schedule's rate for `iteration` into the optimizer; return what it now holds."""
        lr = learning_rate(iteration, self.config.train)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return self.learning_rate()

    def learning_rate(self) -> float:
        """The rate the optimizer will apply at its next step (read from it, not recomputed)."""
        return float(self.optimizer.param_groups[0]["lr"])

    def _shard_losses(
        self, iteration: int, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None, shard: int, params: gpt.Params
    ) -> torch.Tensor:
        """Forward and backward of one shard of every member's batch; gradients land in params."""
        counter = torch.tensor(iteration, dtype=torch.long)
        with autocast(self.config.train.precision, self.device):
            losses = self._losses(params, x, y, self.config.model, self.keys, counter, shard, weights)
        # Summing member losses gives each member exactly the gradient of its own loss.
        losses.sum().backward()
        return losses.detach()

    def _sharded_losses(self, iteration: int, x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """The batch (K, B, T) split into equal shards along B, one thread each: the loss is the
        mean of the shard means and the gradient the mean of the shard gradients, summed in
        shard order whatever thread finishes first."""
        shards = self.batch_shards
        xs = [c.contiguous() for c in x.chunk(shards, dim=1)]
        ys = [c.contiguous() for c in y.chunk(shards, dim=1)]
        # Weights average 1 over the whole batch, so the mean of shard means is the batch's mean.
        ws = [None] * shards if weights is None else [c.contiguous() for c in weights.chunk(shards, dim=1)]
        # Each shard gets leaves of its own (sharing the weights' storage), so no two threads
        # accumulate into one .grad and the sum below has a fixed order.
        leaves = [{n: p.detach().requires_grad_(True) for n, p in self.params.items()} for _ in range(shards)]

        def run(s: int) -> torch.Tensor:
            return self._shard_losses(iteration, xs[s], ys[s], ws[s], s, leaves[s])

        # The first step runs the shards one after another, so torch.compile traces only once.
        parts = list(self._pool.map(run, range(shards))) if self._steps_taken else [run(s) for s in range(shards)]
        for name, p in self.params.items():
            grad = leaves[0][name].grad
            for other in leaves[1:]:
                grad = grad + other[name].grad
            p.grad = grad / shards
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total / shards

    def _clip_gradients(self, max_norm: float) -> None:
        """torch's clip_grad_norm_ applied to each member alone, with its rounding: the norm of
        the per-tensor norms (stacked along dim 1, which keeps each member's reduction order)."""
        grads = [p.grad for p in self.params.values()]
        norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), 2, dim=1) for g in grads], dim=1)  # (K, P)
        total = torch.linalg.vector_norm(norms, 2, dim=1)
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))

    def member_state(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights and AdamW moments, as CPU tensors keyed for a safetensors file."""
        out = {name: p[k].detach().cpu().clone() for name, p in self.params.items()}
        for name, p in self.params.items():
            state = self.optimizer.state.get(p, {})
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    out[f"optimizer.{moment}.{name}"] = state[moment][k].detach().cpu().clone()
        return out

    def optimizer_steps(self) -> int:
        state = self.optimizer.state.get(next(iter(self.params.values())), {})
        return int(state["step"].item()) if "step" in state else 0

    def load_member_states(self, states: Sequence[dict[str, torch.Tensor]], steps: int) -> None:
        """Restore every member's weights and (if present) optimizer moments."""
        with torch.no_grad():
            for name, p in self.params.items():
                p.copy_(torch.stack([s[name] for s in states]).to(self.device))
        if steps == 0:
            return
        for name, p in self.params.items():
            self.optimizer.state[p] = {
                # fused AdamW keeps its step count as a float32 tensor on the parameters' device
                "step": torch.tensor(float(steps), dtype=torch.float32, device=self.device),
                **{
                    moment: torch.stack([s[f"optimizer.{moment}.{name}"] for s in states]).to(self.device)
                    for moment in ("exp_avg", "exp_avg_sq")
                },
            }
