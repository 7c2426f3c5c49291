"""A pixel-reconstruction term beside the JEPA loss, as an experiment (not a library option):

    I15_WORK=/tmp/i15/pp EPISODES=2400 RECON=10 python recon.py NAME override...

Trains as ``exp.py`` does, with a small decoder (``physjepa.models.decoder.Decoder``, the
viewer's) on the first frame's latent of every window (the encoder's part, what the planning
cost compares) and ``RECON`` x its pixel MSE added to the loss. The decoder is a
training-only head: its weights are dropped from the saved model, so the run loads, plans
and is diagnosed like any other. Why: push-t's block angle is barely in any JEPA latent
(docs/issue15-variants.md), and a reconstruction term asks the latent to hold all the frame
shows, the T's turn included (LeWM reports that a pixel loss hurts planning; this checks it
on that case)."""

import os
import sys
import time
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

import physjepa.training.loop as loop
from physjepa.config import load_preset
from physjepa.data.collect import collect
from physjepa.models.decoder import Decoder
from physjepa.models.losses import compute_loss

W = Path(os.environ.get("I15_WORK", "/tmp/i15/work"))
WEIGHT = float(os.environ.get("RECON", "10"))
name, over = sys.argv[1], sys.argv[2:]
N = int(os.environ.get("EPISODES", "150"))
data = W / f"push-t-{N}.h5"
if not data.exists():
    collect("push-t", data, N, 100, policy="scripted", seed=0, workers=1)

build = loop.build_world_model


def build_with_head(model_cfg, spec):
    m = build(model_cfg, spec)
    m.recon = Decoder(model_cfg.dim, spec.obs_shape[0])
    return m


def loss_with_recon(model, batch, cfg, directions, amp_dtype=None, gather=None):
    loss, stats = compute_loss(model, batch, cfg, directions, amp_dtype, gather)
    obs = batch["obs"]  # (b, T, H, W, 3) uint8
    # one frame per window (the first), encoded again: a 7th of the frames keeps it cheap
    x = obs[:, :1]
    img = model.recon(model.encode_pixels(x)[:, 0])
    rec = (img - x[:, 0].float() / 255).pow(2).mean()
    stats["train/recon"] = rec.detach()
    return loss + WEIGHT * rec, stats


loop.build_world_model, loop.compute_loss = build_with_head, loss_with_recon
cfg = load_preset(
    "laptop",
    ["data.frameskip=5", "loss.sigreg_weight=0.1", "train.steps=1200", "train.device=cpu", *over],
)
t = time.perf_counter()
loop.train(cfg, data, W / name, overwrite=True, progress=False)
out = W / name / "model.safetensors"
with safe_open(out, "pt") as f:
    meta = f.metadata()
save_file({k: v for k, v in load_file(out).items() if not k.startswith("recon.")}, out, meta)
(W / name / "train_minutes.txt").write_text(f"{(time.perf_counter() - t) / 60:.2f}\n")
print(name, "done", (time.perf_counter() - t) / 60, "min")
