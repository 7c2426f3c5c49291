"""Does a push-t run's latent hold the block's angle?  python angle.py RUN

Frames of the run's own data (20 per episode; 600 training episodes, 150 held out): the
encoder's output (before the projector) and the latent (after it, the encoder's part), read
by a linear map (ridge) and by a small MLP (2 x 256, 3,000 Adam steps), against the block's
angle (cos, sin) and position (x, y / 512). Held-out R² printed per target."""

import sys

import numpy as np
import torch
from torch import nn

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.training.checkpoint import load_run

torch.manual_seed(0)
model, cfg, info = load_run(sys.argv[1])
rng = np.random.default_rng(0)
feats: dict[str, dict[str, np.ndarray]] = {"latent": {}, "encoder": {}}
Y = {}
with torch.no_grad(), EpisodeFile(info.data.path) as f:
    tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
    for k, ids in (("tr", tr[:600]), ("va", va[:150])):
        zl, el, yl = [], [], []
        for i in ids:
            ep = f.episode(int(i))
            rows = rng.choice(len(ep["pixels"]), 20, replace=False)
            e = model.encoder(torch.as_tensor(ep["pixels"][rows]))
            zl.append(model.projector(e).numpy())
            el.append(e.numpy())
            st = ep["state"][rows]  # agent_pos, agent_vel, block_pos, block_angle, ...
            yl.append(np.c_[np.cos(st[:, 6]), np.sin(st[:, 6]), st[:, 4:6] / 512])
        feats["latent"][k], feats["encoder"][k] = np.concatenate(zl), np.concatenate(el)
        Y[k] = np.concatenate(yl)


def r2(y, p):
    return 1 - ((y - p) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


for name, F in feats.items():
    mu, sd = F["tr"].mean(0), F["tr"].std(0) + 1e-6
    xt, xv = (F["tr"] - mu) / sd, (F["va"] - mu) / sd
    a = np.c_[xt, np.ones(len(xt))]
    w = np.linalg.solve(a.T @ a + 1e-3 * np.eye(a.shape[1]), a.T @ Y["tr"])
    lin = r2(Y["va"], np.c_[xv, np.ones(len(xv))] @ w)
    net = nn.Sequential(
        nn.Linear(xt.shape[1], 256), nn.GELU(), nn.Linear(256, 256), nn.GELU(), nn.Linear(256, 4)
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    X, T = torch.tensor(xt, dtype=torch.float32), torch.tensor(Y["tr"], dtype=torch.float32)
    for _ in range(3000):
        i = torch.randint(len(X), (256,))
        loss = (net(X[i]) - T[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mlp = r2(Y["va"], net(torch.tensor(xv, dtype=torch.float32)).numpy())
    print(name, "held-out R² (cos, sin, block x, y): linear", lin.round(3), "MLP", mlp.round(3))
