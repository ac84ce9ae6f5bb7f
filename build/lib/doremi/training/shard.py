"""trainer.strategy=fsdp: PyTorch's fully_shard (FSDP2) through Lightning's ModelParallelStrategy.

Each layer of the model's stack is its own shard group and the rest (embeddings, final norm,
head) the root's, so a process holds 1/n of the weights, gradients and AdamW moments and
gathers one layer at a time. Gradients are averaged over processes, as with DDP. The frozen
Group DRO reference is not sharded (it has no gradients or optimizer state). Checkpoints
are one file with the full state (resume works as with DDP), and `whole` gathers a trained
model for saving. fully_shard runs on GPUs (NCCL) and on CPUs (gloo), so the path is tested
without a GPU; Lightning's own FSDPStrategy (FSDP1) refuses CPUs.
"""

from __future__ import annotations

import torch
from pytorch_lightning.strategies import ModelParallelStrategy


class FullyShardedStrategy(ModelParallelStrategy):
    """Data parallel over every process (no tensor parallelism), full-state checkpoint files."""

    strategy_name = "fsdp"

    def __init__(self) -> None:
        super().__init__(save_distributed_checkpoint=False)

    def setup_environment(self) -> None:
        self._data_parallel_size = self.num_nodes * self.num_processes
        self._tensor_parallel_size = 1
        super().setup_environment()


def lightning_strategy(name):
    """What Lightning gets for trainer.strategy: `fsdp` is FullyShardedStrategy, other names pass through."""
    return FullyShardedStrategy() if name == "fsdp" else name


def layer_stack(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The model's stack of transformer layers: its longest ModuleList (GPT blocks, Llama/Qwen2/NeoX layers, GPT-2 h)."""
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    return max(stacks, key=len, default=None)


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def shard(model: torch.nn.Module, mesh) -> None:
    """fully_shard each layer, then the whole model, over the mesh's data-parallel processes (idempotent)."""
    if mesh is None or is_sharded(model):
        return
    from torch.distributed.fsdp import fully_shard

    group = mesh["data_parallel"]
    for layer in layer_stack(model) or []:
        fully_shard(layer, mesh=group)
    fully_shard(model, mesh=group)


def whole(model: torch.nn.Module, rebuild) -> torch.nn.Module:
    """The model with all of its weights on every process: itself unless sharded; a sharded one is gathered
    into `rebuild()`, a fresh unsharded model of the same shape, on the CPU. Collective: every process calls it."""
    if not is_sharded(model):
        return model
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True))
    plain = rebuild()
    plain.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
    return plain
