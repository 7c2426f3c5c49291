"""What hidden_diag.py and mlp_params.py both read: ``load(argv)`` with argv = RUN DATA
[LENGTH] -> the run, the episodes (training tr[:200], then the held-out fifth) encoded, and
the voe benchmark's event windows of LENGTH frames (metrics/params.py)."""

from types import SimpleNamespace

import numpy as np
import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.metrics.params import _columns, event_windows
from physjepa.metrics.rollout import encode_episodes
from physjepa.training.checkpoint import load_run


def load(argv: list[str]) -> SimpleNamespace:
    run, data = argv[1], argv[2]
    length = int(argv[3]) if len(argv) > 3 else 16
    torch.set_num_threads(1)
    model, cfg, info = load_run(run)
    with EpisodeFile(data) as f:
        tr, va = split_episodes(f.n_episodes, cfg.data.val_fraction)
        spec, params = f.state_spec, f.params
        enc_tr = encode_episodes(model, f, tr[:200], cfg.data.frameskip, "pixels", "cpu")
        enc_va = encode_episodes(model, f, va, cfg.data.frameskip, "pixels", "cpu")
    eps = enc_tr + enc_va
    return SimpleNamespace(
        model=model,
        cfg=cfg,
        length=length,
        spec=spec,
        params=params,
        col=_columns(spec),
        enc_tr=enc_tr,
        enc_va=enc_va,
        eps=eps,
        test_ids=np.arange(len(enc_tr), len(eps)),
        wins=event_windows(eps, spec, params, cfg.data.frameskip, (length,)),
    )
