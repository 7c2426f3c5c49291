"""Train the predictor alone on a finished run's frozen latents (DINO-WM style: a fixed
encoder, a predictor trained for long): python predft.py RUN DATA STEPS NEW [LR]

Encodes every frame of the run's training episodes once (the last val_fraction held out),
then trains only the predictor on windows of history + rollout model steps (any start frame,
the run's frameskip) with the run's teacher-forced + rollout loss, cosine learning rate from
LR (default the run's). Writes NEW, a copy of RUN with the new predictor, and prints the
held-out teacher-forced and rollout losses before and after.

``REINIT=S``: start from a fresh predictor (the run's config, seed S) instead of the run's
own, for an ensemble of predictors trained apart on one encoder (docs/issue16)."""

import math
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.metrics.rollout import encode_episodes
from physjepa.models.losses import prediction_loss
from physjepa.models.world_model import build_world_model
from physjepa.training.checkpoint import load_run, save_weights

run, data, steps, new = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
model, cfg, info = load_run(run)
lr0 = float(sys.argv[5]) if len(sys.argv) > 5 else cfg.train.lr
fs, h, r = cfg.data.frameskip, cfg.data.history, cfg.data.rollout
T = h + r
t0 = time.perf_counter()
with EpisodeFile(data) as f:
    tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
    enc = {k: encode_episodes(model, f, ids, 1, "pixels") for k, ids in (("tr", tr), ("va", va))}
print(f"encoded in {time.perf_counter() - t0:.0f} s", flush=True)
if "REINIT" in os.environ:  # a fresh predictor of the run's architecture, seeded
    torch.manual_seed(int(os.environ["REINIT"]))
    model.predictor = build_world_model(cfg.model, model.spec).predictor


def stack(eps):
    z = torch.stack([e.z for e in eps])  # (E, N, D)
    a = torch.stack([e.action for e in eps])  # (E, N, A)
    return z, a


Z = {k: stack(v) for k, v in enc.items()}
span = (T - 1) * fs + fs  # frames covered, with the last block's actions


def windows(split, idx_ep, start):
    z, a = Z[split]
    frames = start[:, None] + fs * torch.arange(T)[None]  # (B, T)
    zw = z[idx_ep[:, None], frames]  # (B, T, D)
    raw = start[:, None] + torch.arange(T * fs)[None]  # (B, T*fs)
    aw = a[idx_ep[:, None], raw].reshape(len(start), T, -1)  # (B, T, fs*A)
    return zw, aw


def losses(zw, aw):
    pred = model.predict_all(zw[:, :h], aw[:, :h])
    lp = prediction_loss(pred, zw[:, 1 : h + 1])
    ctx = torch.cat([zw[:, 1:h], pred[:, -1:]], 1)
    outs = []
    for k in range(1, r):
        nxt = model.predict(ctx, aw[:, k : k + h])
        outs.append(nxt)
        ctx = torch.cat([ctx[:, 1:], nxt[:, None]], 1)
    return lp, prediction_loss(torch.stack(outs, 1), zw[:, h + 1 : h + r])


g = torch.Generator().manual_seed(0)
n_va = Z["va"][0].shape[1] - span + 1
ev = torch.randint(0, Z["va"][0].shape[0], (1024,), generator=g)
es = torch.randint(0, n_va, (1024,), generator=g)


@torch.no_grad()
def held_out():
    model.eval()
    lp, lr_ = losses(*windows("va", ev, es))
    model.train()
    return float(lp), float(lr_)


print("held-out before: pred {:.4f} rollout {:.4f}".format(*held_out()), flush=True)
for p in model.parameters():
    p.requires_grad_(False)
params = list(model.predictor.parameters())
for p in params:
    p.requires_grad_(True)
opt = torch.optim.AdamW(params, lr=lr0, weight_decay=cfg.train.weight_decay)
model.train()
E, N = Z["tr"][0].shape[:2]
bs = cfg.train.batch_size
t1 = time.perf_counter()
for step in range(steps):
    lr = lr0 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
    for grp in opt.param_groups:
        grp["lr"] = lr
    ie = torch.randint(0, E, (bs,), generator=g)
    st = torch.randint(0, N - span + 1, (bs,), generator=g)
    lp, lr_ = losses(*windows("tr", ie, st))
    loss = lp + cfg.loss.rollout_weight * lr_
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if (step + 1) % max(1, steps // 8) == 0:
        print(
            f"step {step + 1}: train {lp.item():.4f} {lr_.item():.4f}; held-out "
            "pred {:.4f} rollout {:.4f}".format(*held_out()),
            f"({time.perf_counter() - t1:.0f} s)",
            flush=True,
        )
shutil.rmtree(new, ignore_errors=True)
shutil.copytree(run, new, ignore=shutil.ignore_patterns("plan-*", "truedyn-*", "train_state.pt"))
model.eval()
save_weights(new, model, steps)
print("wrote", new, f"{(time.perf_counter() - t0) / 60:.1f} min")
