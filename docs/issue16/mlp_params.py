"""Does a *nonlinear* probe read the hidden params where the linear one reads ~0?
python mlp_params.py RUN DATA [LENGTH]

The voe benchmark's event windows and episode split (metrics/params.py, as hidden_diag.py):
training episodes tr[:200], held-out episodes the validation fifth. For each param and
representation, a small MLP (a linear map plus one hidden layer of 64, AdamW, weight decay
1e-2) on the standardised features (the context's: its first 64 principal components, fit
on training rows),
its step count chosen on the last fifth of the training episodes, scored once on the
held-out ones. Representations over the window, concatenated in order:
  context       the predictor's state at every frame (the benchmark's row)
  true_state    the ball's true position and velocity
  true+action   the same and the action applied after each frame (mass needs the push)
The ridge R² of each is printed beside it (metrics/params.episode_probe)."""

import sys

import numpy as np
import torch
from event_data import load

from physjepa.metrics.params import HIDDEN, episode_probe, window_features
from physjepa.metrics.probe import _MLPProbe

d = load(sys.argv)
model, cfg, length, spec, params, col = d.model, d.cfg, d.length, d.spec, d.params, d.col
enc_tr, enc_va, eps, test_ids, wins = d.enc_tr, d.enc_va, d.eps, d.test_ids, d.wins
ball = [i for k in ("ball_pos", "ball_vel") for i in range(col[k].start, col[k].start + 2)]


def mlp_r2(x, y, ep, seed=0, comps=64, steps=3000):
    is_test = np.isin(ep, test_ids)
    train_eps = np.unique(ep[~is_test])
    val_eps = train_eps[int(len(train_eps) * 0.8) :]
    is_val = np.isin(ep, val_eps)
    fit = ~is_test & ~is_val
    mu, sd = x[fit].mean(0), x[fit].std(0) + 1e-8
    _, _, vt = np.linalg.svd((x[fit] - mu) / sd, full_matrices=False)
    proj = ((x - mu) / sd) @ vt[:comps].T if x.shape[1] > 96 else (x - mu) / sd
    pm, ps = proj[fit].mean(0), proj[fit].std(0) + 1e-8
    xt = torch.as_tensor((proj - pm) / ps, dtype=torch.float32)
    ym, ys = y[fit].mean(), y[fit].std() + 1e-8
    yt = torch.as_tensor((y - ym) / ys, dtype=torch.float32)[:, None]
    torch.manual_seed(seed)
    net = _MLPProbe(xt.shape[1], 64, 1)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    gen = torch.Generator().manual_seed(seed)
    fi = torch.as_tensor(np.flatnonzero(fit))
    best, state = np.inf, None
    for step in range(1, steps + 1):
        i = fi[torch.randint(len(fi), (128,), generator=gen)]
        loss = (net(xt[i]) - yt[i]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0:
            with torch.no_grad():
                v = float((net(xt[is_val]) - yt[is_val]).pow(2).mean())
            if v < best:
                best, state = v, {k: t.clone() for k, t in net.state_dict().items()}
    net.load_state_dict(state)
    with torch.no_grad():
        pred = net(xt[is_test]).numpy()[:, 0] * ys + ym
    yy = y[is_test]
    return 1 - ((yy - pred) ** 2).sum() / ((yy - yy.mean()) ** 2).sum()


print(f"length {length}; R² on held-out episodes, MLP (ridge)")
print("representation".ljust(14), *(n.rjust(16) for n in HIDDEN))
rows: dict[str, list[str]] = {}
for name, ev in HIDDEN.items():
    ws = [w for w in wins if w.event == ev]
    ep = np.array([w.episode for w in ws])
    y = np.array([float(eps[w.episode].state[w.start, col[name]][0]) for w in ws])
    feats = {"context": window_features(model, eps, ws)["context"]}
    feats["true_state"] = np.stack(
        [eps[w.episode].state[w.start : w.start + length, ball].ravel() for w in ws]
    )
    feats["true+action"] = np.concatenate(
        [
            feats["true_state"],
            np.stack(
                [eps[w.episode].action[w.start : w.start + length].numpy().ravel() for w in ws]
            ),
        ],
        1,
    )
    for rep, x in feats.items():
        x = x.astype(np.float64)
        cell = f"{mlp_r2(x, y, ep):.3f} ({episode_probe(x, y, ep, test_ids)['r2']:.3f})"
        rows.setdefault(rep, []).append(cell)
for rep, cells in rows.items():
    print(rep.ljust(14), *(c.rjust(16) for c in cells), flush=True)
