"""A predicted variance for VoE surprise (issue 16's third form of the uncertainty lever):

    python docs/issue16/var_head.py [WORK]   # default benchmarks/work/voe-shift
    VAR=WORK/var_head.pt PAIRS=WORK/shift_pairs.h5 python docs/issue16/score_val.py WORK id ood

On the run's frozen model, a small head (F -> 64 -> 1) reads the predictor's state at the last
context frame (``WorldModel.context_states``) and predicts the log of the error the suite
scores there (frame t's latent error, ``rollout`` steps ahead, from the context ending at
t - rollout), trained by a Gaussian negative log-likelihood on the training episodes (the
run's validation episodes held out: the step with their lowest NLL is kept). ``score_val.py``
then divides the error by that variance (``var``, ``actual+var``). Writes
WORK/var_head.pt."""

import sys
from pathlib import Path

import torch
from torch import nn

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.metrics.surprise import latent_predictions, model_steps
from physjepa.runs import Run


def head_for(width: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width, 64), nn.GELU(), nn.Linear(64, 1))


@torch.no_grad()
def context_rows(model, z: torch.Tensor, act: torch.Tensor, k: int) -> torch.Tensor:
    """(T, F): for every frame t, the predictor's state at the last frame of the context its
    prediction is read from (frame max(t - k, 0))."""
    states = model.context_states(z[None], act[None])[0]
    return states[(torch.arange(len(z)) - k).clamp(min=0)]


@torch.no_grad()
def errors_and_states(model, z: torch.Tensor, act: torch.Tensor, h: int, k: int):
    """(T,) the suite's latent error of every frame (frame 0: 0) and its :func:`context_rows`."""
    s = (latent_predictions(model, z, act, h, k) - z[1:]).pow(2).mean(-1)
    return torch.cat([s.new_zeros(1), s]), context_rows(model, z, act, k)


@torch.no_grad()
def predicted_variance(head: nn.Module, model, z, act, k: int) -> torch.Tensor:
    """(T,): the head's variance of every frame's error (frame 0: 0); the caller has the
    errors already, so only the context states are computed."""
    v = head(context_rows(model, z, act, k)).squeeze(-1).exp()
    v[0] = 0.0
    return v


def main() -> None:
    work = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/work/voe-shift")
    run = Run.open(work / "run")
    model, cfg = run.load_model("cpu").eval(), run.config
    h, k, fs = model.history, cfg.data.rollout, cfg.data.frameskip
    data = {}
    with EpisodeFile(run.data.path) as f, torch.no_grad():
        tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
        for name, ids in (("train", tr), ("val", va)):
            s_all, x_all = [], []
            for i in ids:
                ep = f.episode(int(i))
                obs, act = model_steps(ep["pixels"], ep["action"], fs)
                s, x = errors_and_states(model, model.encode(obs[None])[0], act, h, k)
                s_all.append(s[k:]), x_all.append(x[k:])
            data[name] = torch.cat(s_all), torch.cat(x_all)
    torch.manual_seed(0)
    head = head_for(data["train"][1].shape[1])
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)

    def nll(split: str) -> torch.Tensor:
        s, x = data[split]
        logv = head(x).squeeze(-1)
        return (s / logv.exp() + logv).mean()

    best = (float("inf"), None, 0)  # the step with the lowest held-out NLL is kept
    for step in range(2000):
        loss = nll("train")
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            held = float(nll("val"))
        if held < best[0]:
            best = (held, {n: t.clone() for n, t in head.state_dict().items()}, step + 1)
        if (step + 1) % 500 == 0:
            print(f"step {step + 1}: NLL train {loss.item():.3f} held-out {held:.3f}")
    head.load_state_dict(best[1])
    print(f"kept step {best[2]} (held-out NLL {best[0]:.3f})")
    with torch.no_grad():
        s, x = data["val"]
        v = head(x).squeeze(-1).exp()
        corr = torch.corrcoef(torch.stack([s, v]))[0, 1]
    print(f"held-out: mean error {s.mean():.5f}, mean variance {v.mean():.5f}, corr {corr:.3f}")
    torch.save(head.state_dict(), work / "var_head.pt")
    print("wrote", work / "var_head.pt")


if __name__ == "__main__":
    main()
