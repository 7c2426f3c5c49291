"""One training step's loss and gradients, for the 1-process vs N-process test.

Run under ``torchrun --nproc_per_node=N tests/distributed/grad_step.py DATA OUT [--float64]``:
every rank takes its shard of the same global batch, computes the loss (SIGReg on the
gathered embeddings, BatchNorm over the global batch) and backward, then the gradients are
averaged; rank 0 saves the global loss, every parameter's gradient and the BatchNorm running stats.
``--float64`` computes everything in double precision (the reference for the tolerances).
"""

from __future__ import annotations

import sys

import torch

from physjepa.config import load_preset
from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.data.windows import WindowDataset
from physjepa.models.losses import compute_loss, random_directions
from physjepa.models.world_model import ModelSpec, build_world_model
from physjepa.training import distributed as ddp

OVERRIDES = ["model.pred_dropout=0", "train.batch_size=8"]


def main(data: str, out: str, float64: bool) -> None:
    cfg = load_preset("debug", OVERRIDES)
    rank = ddp.from_env()
    ddp.init(rank, torch.device("cpu"))
    file = EpisodeFile(data)
    eps, _ = split_episodes(file.n_episodes, cfg.data.val_fraction)
    ds = WindowDataset(file, eps, cfg.data.window, cfg.data.frameskip, "pixels")
    torch.manual_seed(0)
    model = build_world_model(cfg.model, ModelSpec(ds.obs_shape, ds.action_dim, cfg.data.history))
    if rank.enabled:
        model = ddp.convert_batchnorm(model)
    dirs = random_directions(
        cfg.model.dim, cfg.loss.sigreg_directions, torch.Generator().manual_seed(4)
    )
    if float64:  # the same float32 init and directions, then everything in double precision
        dirs = dirs.double()
        model = model.double()
        torch.set_default_dtype(torch.float64)
    ddp.broadcast_module(model)
    model.train()
    index = torch.randint(
        len(ds), (cfg.train.batch_size,), generator=torch.Generator().manual_seed(3)
    )
    batch = ds.get(ddp.shard(index, rank))
    batch["action"] = batch["action"].to(torch.get_default_dtype())
    loss, stats = compute_loss(model, batch, cfg, dirs, gather=ddp.gather_batch)
    loss.backward()
    params = list(model.parameters())
    global_loss = ddp.average_gradients(params, loss)
    sig = ddp.mean_over_ranks({"sigreg": float(stats["train/sigreg"])}, torch.device("cpu"))
    if rank.is_main:
        torch.save(
            {
                "loss": global_loss,
                "sigreg": sig["sigreg"],
                "grads": {n: p.grad for n, p in model.named_parameters()},
                "buffers": {n: b for n, b in model.named_buffers()},
            },
            out,
        )
    ds.close()
    file.close()
    ddp.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--float64" in sys.argv[3:])
