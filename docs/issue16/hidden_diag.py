"""Can a linear probe read the hidden params from *any* per-frame position signal as precise
as the model's?  python hidden_diag.py RUN DATA [LENGTH]

On the voe benchmark's event windows (metrics/params.py: the same windows, the same ridge
probe split by episode), probe gravity, restitution, friction and mass from, concatenated
over the window:
  latents       the model's per-frame latents (the benchmark's control row)
  readout       the ball's position read linearly from each latent (ridge fit on training
                frames with the ball in view), two numbers a frame
  true_pos      the ball's true position
  true_pos+e    the true position plus Gaussian noise of the readout's held-out error
  true_state    true position and velocity
Prints one table row per representation."""

import sys

import numpy as np
from event_data import load

from physjepa.metrics.params import HIDDEN, episode_probe, motion
from physjepa.metrics.probe import fit_ridge

d = load(sys.argv)
model, cfg, length, spec, params, col = d.model, d.cfg, d.length, d.spec, d.params, d.col
enc_tr, enc_va, eps, test_ids, wins = d.enc_tr, d.enc_va, d.eps, d.test_ids, d.wins


def pos(e):
    return e.state[:, col["ball_pos"]][:, :2].astype(np.float64)


def vel(e):
    return e.state[:, col["ball_vel"]][:, :2].astype(np.float64)


# linear readout latent -> ball position, fit on training frames with the ball in view
def seen(e):
    return motion(e.state, e.action.numpy(), spec, params, cfg.data.frameskip).visible


Z = np.concatenate([e.z.double().numpy()[seen(e)] for e in enc_tr])
P = np.concatenate([pos(e)[seen(e)] for e in enc_tr])
mu, sd, w, ym = fit_ridge(Z, P, 1e-4)


def readout(e):
    return ((e.z.double().numpy() - mu) / sd) @ w + ym


Zv = np.concatenate([readout(e)[seen(e)] for e in enc_va])
Pv = np.concatenate([pos(e)[seen(e)] for e in enc_va])
err = Zv - Pv
sigma = err.std(0)
r2 = 1 - (err**2).sum(0) / ((Pv - Pv.mean(0)) ** 2).sum(0)
print(f"readout held-out R2 {r2.round(5)}, error std {sigma.round(5)} (arena units)")
rng = np.random.default_rng(0)
noisy = {i: pos(e) + rng.normal(0, sigma, pos(e).shape) for i, e in enumerate(eps)}
reps = {
    "latents": lambda i, e, s: e.z[s : s + length].double().numpy().ravel(),
    "readout": lambda i, e, s: readout(e)[s : s + length].ravel(),
    "true_pos": lambda i, e, s: pos(e)[s : s + length].ravel(),
    "true_pos+e": lambda i, e, s: noisy[i][s : s + length].ravel(),
    "true_pos+e/4": lambda i, e, s: (pos(e) + (noisy[i] - pos(e)) / 4)[s : s + length].ravel(),
    "true_state": lambda i, e, s: np.concatenate([pos(e), vel(e)], 1)[s : s + length].ravel(),
}
print(f"length {length}; windows per param (train/test):")
for name, ev in HIDDEN.items():
    ws = [x for x in wins if x.event == ev]
    ep = np.array([x.episode for x in ws])
    print(f"  {name}: {int((~np.isin(ep, test_ids)).sum())}/{int(np.isin(ep, test_ids).sum())}")
print("representation".ljust(14), *(n.rjust(12) for n in HIDDEN))
for rep, fn in reps.items():
    row = []
    for name, ev in HIDDEN.items():
        ws = [x for x in wins if x.event == ev]
        ep = np.array([x.episode for x in ws])
        x = np.stack([fn(x.episode, eps[x.episode], x.start) for x in ws])
        y = np.array([float(eps[x.episode].state[x.start, col[name]][0]) for x in ws])
        row.append(episode_probe(x, y, ep, test_ids)["r2"])
    print(rep.ljust(14), *(f"{r:12.3f}" for r in row), flush=True)

if "--physics" in sys.argv:  # do the varied params act at all? the event's own physics
    for name, ev in HIDDEN.items():
        ws = [x for x in wins if x.event == ev]
        y = np.array([float(eps[x.episode].state[x.start, col[name]][0]) for x in ws])
        feat = []
        for x in ws:
            e, (a, b) = eps[x.episode], x.span
            v = vel(e)
            if ev == "flight":
                feat.append(-(v[b, 1] - v[a, 1]) / (b - a))
            elif ev == "bounce":  # the speed ratio across the flip, any surface
                feat.append(np.linalg.norm(v[b - 1]) / max(np.linalg.norm(v[a + 1]), 1e-9))
            elif ev == "push":
                act = e.action.numpy()[a + 1].reshape(-1, 2).sum(0)
                dv = v[a + 2] - v[a + 1]
                feat.append(float(act @ dv) / max(float(dv @ dv), 1e-12))  # ~ mass / strength
            else:
                feat.append(-(abs(v[b, 0]) - abs(v[a, 0])))
        feat = np.array(feat)
        ok = np.isfinite(feat)
        print(
            f"{name}: std of label {y.std():.3f}; corr(label, event physics) "
            f"{np.corrcoef(y[ok], feat[ok])[0, 1]:.3f}"
        )
