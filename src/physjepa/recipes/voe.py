"""``physjepa voe RUN``: does the model understand physics? Surprise on matched possible /
impossible videos, probes, and baselines, in one run on the same data.

Scorers (each gives a per-step surprise of every video):

- ``physjepa``: the run's model, latent prediction error (:func:`physjepa.metrics.surprise`) from
  a fixed context of ``data.history`` frames;
- ``untrained``: the same architecture at ``untrained`` random initialisations (mean and
  spread over them);
- ``pixel``: a next-frame pixel predictor of similar size trained on the run's training
  episodes (surprise = pixel error);
- ``oracle``: a next-state predictor on the simulator's ground-truth state (surprise = error
  in standardised state units). It sees positions, velocities and varied params, not
  appearance, so render-only violations (permanence, shape, colour) are invisible to it.

Surprise at step t is the error of the prediction of frame t rolled ``horizon`` steps ahead
(default: the run's ``data.rollout``) from the ``context`` frames before (default:
``data.history``); both are fixed settings of the run, never chosen on the pairs.

Metrics (Garrido et al. 2025): pairwise accuracy, the share of pairs (permanence: groups of
two pairs, compared by their sums) whose possible video has the lower mean surprise over
``window`` steps from the breaking point (default context + horizon: every prediction whose
context still holds a normal frame, and the first made from post-break frames only); AUROC of
the maximum surprise (from the first step predicted from a full context) separating
impossible from possible videos. Sweeps over the context length and the horizon are reported
separately, on the in-distribution pairs, never used to pick a setting.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physjepa.data.episodes import DataError, EpisodeFile, split_episodes
from physjepa.data.voe_pairs import (
    MECHANICAL,
    PROPERTIES,
    SPLITS,
    WORLD,
    generate,
    occluder_gap,
    read_pairs,
)
from physjepa.data.windows import WindowDataset
from physjepa.device import resolve_device
from physjepa.errors import UserError
from physjepa.metrics.params import HIDDEN, param_metrics, param_probe
from physjepa.metrics.probe import linear_probe, mlp_probe
from physjepa.metrics.rollout import EncodedEpisode, encode_episodes
from physjepa.metrics.surprise import (
    auroc,
    latent_move,
    latent_surprise,
    model_steps,
    pairwise_accuracy,
    relative_surprise,
)
from physjepa.models.baselines import (
    PixelPredictor,
    StatePredictor,
    fit_next_step,
    next_step_surprise,
)
from physjepa.models.world_model import ModelSpec, build_world_model
from physjepa.options import VoeOptions
from physjepa.runs import Run
from physjepa.worlds import WorldError

SCORERS = ("physjepa", "untrained", "pixel", "oracle")
PARAM_WINDOW = 8  # frames of latents the physical-params probes read


def _pairs_path(
    run_dir: Path,
    params: dict,
    pairs: int,
    steps: int,
    seed: int,
    image_size: int,
    log: Callable[[str], None],
) -> Path:
    """The run's pairs file, generated (or regenerated) when it does not match the request."""
    path = run_dir / "voe_pairs.h5"
    if path.exists():
        try:
            f, records = read_pairs(path)
            with f:
                attrs = f.attrs()
                same = (
                    json.loads(attrs["voe_params_json"])["id"] == params
                    and len({r["group"] for r in records}) == pairs * len(PROPERTIES) * len(SPLITS)
                    and int(f.ep_len[0]) == steps
                    and attrs.get("seed") == seed
                    and attrs.get("image_size") == image_size
                )
        except (DataError, KeyError, TypeError, ValueError):
            same = False
        if same:
            log(f"using the pairs in {path}")
            return path
    log(f"generating {pairs} pairs per property and split into {path}")
    return generate(
        path, params, pairs=pairs, steps=steps, seed=seed, image_size=image_size, overwrite=True
    )


def _visible_segments(eps: list[EncodedEpisode], spec: list, params: dict) -> list[EncodedEpisode]:
    """Each episode cut into its runs of frames in which ball 0 is wholly in view."""
    names = [n for n, _ in spec]
    occ = params.get("occluder")
    if occ is None:
        return eps
    col = 0
    offsets = {}
    for name, shape in spec:
        offsets[name] = col
        col += int(np.prod(shape)) if shape else 1
    out = []
    for ep in eps:
        pos = ep.state[:, offsets["ball_pos"] : offsets["ball_pos"] + 2]
        r = ep.state[:, offsets["radius"]] if "radius" in names else params["radius"]
        seen = occluder_gap(pos, occ) > r
        start = None
        for t, ok in enumerate(list(seen) + [False]):
            if ok and start is None:
                start = t
            elif not ok and start is not None:
                out.append(
                    EncodedEpisode(
                        ep.z[start:t], ep.action[start:t], ep.state[start:t], ep.obs[start:t]
                    )
                )
                start = None
    return out


def probes(model, cfg, data_path: str, params: dict, device: str = "cpu") -> dict:
    """Linear and MLP probes from latents to every state variable (positions and velocities
    from ``eval.probe_window`` frames, physical params from :data:`PARAM_WINDOW` frames), fit
    on training episodes, R² on held-out ones, on frames where the ball is wholly in view
    (the linear probe also on all frames, the hidden ball included); and the hidden params
    from the predictor's context over windows that show them
    (:func:`physjepa.metrics.params.param_probe`), under ``params_context``."""
    with EpisodeFile(data_path) as file:
        train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
        spec, world, world_params = file.state_spec, file.world, file.params
        enc_tr = encode_episodes(model, file, train_eps[:200], cfg.data.frameskip, "pixels", device)
        enc_va = encode_episodes(model, file, val_eps, cfg.data.frameskip, "pixels", device)
    if not spec:
        return {}
    vis_tr, vis_va = (_visible_segments(e, spec, params) for e in (enc_tr, enc_va))
    w = cfg.eval.probe_window
    lin = linear_probe(vis_tr, vis_va, spec, w)["linear"]
    mlp = mlp_probe(vis_tr, vis_va, spec, w)["mlp"]
    state_keys = [n for n, _ in spec if n.startswith("ball_")]
    param_keys = [n for n, _ in spec if not n.startswith("ball_")]
    out = {
        "window": w,
        "frames": "ball wholly in view (runs of visible frames of held-out episodes)",
        "linear": {k: lin[k] for k in state_keys},
        "mlp": {k: mlp[k] for k in state_keys},
        "linear_all_frames": {
            k: v
            for k, v in linear_probe(enc_tr, enc_va, spec, w)["linear"].items()
            if k in state_keys
        },
    }
    if param_keys:
        long_tr = [e for e in vis_tr if len(e.z) >= PARAM_WINDOW]
        long_va = [e for e in vis_va if len(e.z) >= PARAM_WINDOW]
        plin = linear_probe(long_tr, long_va, spec, PARAM_WINDOW)["linear"]
        pmlp = mlp_probe(long_tr, long_va, spec, PARAM_WINDOW)["mlp"]
        out["params_window"] = PARAM_WINDOW
        out["params_linear"] = {k: plin[k] for k in param_keys}
        out["params_mlp"] = {k: pmlp[k] for k in param_keys}
    if any(k in HIDDEN for k in param_keys):
        out["params_context"] = param_probe(
            model, enc_tr, enc_va, spec, world_params, world, cfg.data.frameskip, device=device
        )
    return out


def _baselines(
    cfg, spec: ModelSpec, data_path: str, pixel_steps: int, oracle_steps: int, seed: int, log
):
    """Pixel predictor and state oracle, trained on the run's training episodes."""
    h, fs = cfg.data.history, cfg.data.frameskip
    with EpisodeFile(data_path) as file:
        train_eps, _ = split_episodes(file.n_episodes, cfg.data.val_fraction)
        states = file.load("state", train_eps) if file.has("state") else None
        windows = WindowDataset(file, train_eps, h + 1, fs, "pixels", cfg.data.max_memory_mb)
    out: dict[str, Any] = {}
    with windows, torch.random.fork_rng():
        torch.manual_seed(seed)
        pixel = PixelPredictor(spec.obs_shape[0], spec.action_dim, h, widths=(48, 96, 192))
        out["pixel"] = _fit("pixel baseline", pixel, windows.sample, pixel_steps, 32, seed, log)
        if states is not None:
            torch.manual_seed(seed)
            oracle = StatePredictor(
                states.shape[1], spec.action_dim, h, states.mean(0), states.std(0)
            )

            def sample(b, g):
                batch = windows.sample(b, g)
                return {"obs": batch["state"], "action": batch["action"]}

            out["oracle"] = _fit("state oracle", oracle, sample, oracle_steps, 128, seed, log)
    return out


def _fit(name: str, model, sample, steps: int, batch: int, seed: int, log) -> tuple:
    """Train one baseline; (model, its training summary)."""
    t0 = time.time()
    losses = fit_next_step(model, sample, steps, batch_size=batch, seed=seed)
    last = float(np.mean(losses[-50:]))
    log(f"{name}: {steps} steps in {time.time() - t0:.0f}s, loss {losses[0]:.4f} -> {last:.5f}")
    return model, {"loss_first": losses[0], "loss_last": last, "n_params": _n(model)}


@torch.no_grad()
def typical_move(model, data_path: str, frameskip: int, k: int, episodes: int = 40) -> float:
    """The median ``k``-step latent move (:func:`latent_move`) over the first ``episodes``
    episodes of the run's training data: the unit of the relative score's floor. The model
    must be in eval mode."""
    device = next(model.parameters()).device
    out = []
    with EpisodeFile(data_path) as f:
        for e in range(min(episodes, f.n_episodes)):
            ep = f.episode(e)
            obs, _ = model_steps(ep["pixels"], ep["action"], frameskip)
            out.append(latent_move(model.encode(obs.to(device)[None])[0], k)[k:])
    move = float(torch.cat(out).median())
    if not move > 0:
        raise UserError(
            f"the model's latent does not move over {k} steps of its training episodes "
            f"({data_path}): a collapsed encoder; use --score plain, or retrain"
        )
    return move


def _n(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def run_voe(
    opts: VoeOptions, device: torch.device | None = None, log: Callable[[str], None] = print
) -> dict:
    """``physjepa voe``: the whole suite on a trained run; writes ``voe.json`` into the run
    and returns it."""
    t_start = time.time()
    device = device or resolve_device(opts.device, "--device")
    run = Run.open(opts.run)
    run_dir, cfg, data = run.dir, run.config, run.data
    if data.world != WORLD or data.obs_key != "pixels":
        raise WorldError(
            f"{run_dir} was trained on {data.world!r} ({data.obs_key}); "
            f"VoE pairs exist for {WORLD!r} pixels only"
        )
    model = run.load_model(device)
    pairs_file, pairs, steps, seed = opts.pairs_file, opts.pairs, opts.steps, opts.seed
    untrained, context, horizon = opts.untrained, opts.context, opts.horizon
    h = model.history if context is None else context
    if not 1 <= h <= model.history:
        raise UserError(f"--context {context!r} must be an integer in [1, {model.history}]")
    k = cfg.data.rollout if horizon is None else horizon
    window = h + k if opts.window is None else opts.window
    params = {**data.params, "event": None}
    data_path = data.path
    if not Path(data_path).exists():
        raise DataError(
            f"the run's training data {data_path} is missing; the baselines and probes train on "
            "it: restore it or collect it again with the same command"
        )
    shp = run.shape
    spec = ModelSpec(shp.obs_shape, shp.action_dim, shp.history, shp.proprio_dim)
    if pairs_file is None:
        pairs_file = _pairs_path(run_dir, params, pairs, steps, seed, spec.obs_shape[0], log)
    fs = cfg.data.frameskip
    f, records = read_pairs(pairs_file)  # checked before minutes of baseline training
    with EpisodeFile(data_path) as train_file:
        train_spec = train_file.state_spec
    pairs_attrs = f.attrs()
    if pairs_attrs.get("image_size") != spec.obs_shape[0] or f.state_spec != train_spec:
        found = (pairs_attrs.get("image_size"), [n for n, _ in f.state_spec])
        f.close()
        raise DataError(
            f"{pairs_file} holds {found[0]}-pixel videos with state {found[1]}; the run "
            f"needs {spec.obs_shape[0]} pixels and state {[n for n, _ in train_spec]}: "
            "leave out --pairs-file to generate pairs with the run's own world params"
        )

    base = _baselines(cfg, spec, data_path, opts.pixel_steps, opts.oracle_steps, seed, log)
    untrained_models = []
    for u in range(untrained):
        with torch.random.fork_rng():
            torch.manual_seed(10_000 + u)
            untrained_models.append(build_world_model(cfg.model, spec).to(device).eval())
    sweep_contexts = list(range(1, model.history + 1))
    sweep_horizons = sorted({1, k})  # next-step surprise beside the suite's horizon
    relative = opts.score == "relative"
    # the relative score's floor: a share of each model's median k-step move on training data
    moves = {"physjepa": typical_move(model, data_path, fs, k) if relative else None}
    for u, m in enumerate(untrained_models):
        moves[f"untrained{u}"] = typical_move(m, data_path, fs, k) if relative else None

    def rescored(name: str, s: torch.Tensor, z: torch.Tensor, n: int) -> torch.Tensor:
        if not relative:
            return s
        return relative_surprise(s, z, n, opts.floor * moves[name], opts.power)

    def scored(name: str, m, z, a, c: int, n: int) -> torch.Tensor:
        return rescored(name, latent_surprise(m, z, a, c, n), z, n)

    curves: dict[str, list] = {name: [] for name in ["physjepa", "pixel", "oracle"]}
    if relative:
        curves["physjepa_plain"] = []  # the latent error alone, for comparison
    curves.update({f"untrained{u}": [] for u in range(untrained)})
    curves.update({f"context{c}": [] for c in sweep_contexts})
    curves.update({f"horizon{j}": [] for j in sweep_horizons})
    breaks = []
    pairs_params = json.loads(pairs_attrs.get("voe_params_json") or "null")
    t0 = time.time()
    chunk = 16  # pairs encoded together: one encoder call per model for 32 videos
    with f, torch.no_grad():
        for c0 in range(0, len(records), chunk):
            idx = range(c0, min(c0 + chunk, len(records)))
            videos = [f.episode(e) for i in idx for e in (2 * i, 2 * i + 1)]
            steps_ = [model_steps(ep["pixels"], ep["action"], fs) for ep in videos]
            x = torch.stack([o for o, _ in steps_]).to(device)  # (2C, T, H, W, 3)
            acts = [a.to(device) for _, a in steps_]
            zs = model.encode(x)
            zs_untrained = [m.encode(x) for m in untrained_models]
            for j, i in enumerate(idx):
                per = {name: [] for name in curves}
                sweep = records[i]["split"] == "id"  # the sweeps: in-distribution pairs
                for v in (2 * j, 2 * j + 1):
                    z, a, (obs, act) = zs[v], acts[v], steps_[v]
                    plain = latent_surprise(model, z, a, h, k)
                    main = rescored("physjepa", plain, z, k)
                    per["physjepa"].append(main)
                    if relative:
                        per["physjepa_plain"].append(plain)
                    for c in sweep_contexts if sweep else ():
                        per[f"context{c}"].append(
                            main if c == h else scored("physjepa", model, z, a, c, k)
                        )
                    for n in sweep_horizons if sweep else ():
                        per[f"horizon{n}"].append(
                            main if n == k else scored("physjepa", model, z, a, h, n)
                        )
                    for u, m in enumerate(untrained_models):
                        per[f"untrained{u}"].append(
                            scored(f"untrained{u}", m, zs_untrained[u][v], a, min(h, m.history), k)
                        )
                    per["pixel"].append(next_step_surprise(base["pixel"][0], obs, act, k))
                    if "oracle" in base:
                        state = torch.as_tensor(videos[v]["state"][::fs][: len(obs)])
                        per["oracle"].append(next_step_surprise(base["oracle"][0], state, act, k))
                for name in curves:
                    # sweep curves exist for id pairs only: None keeps the indices aligned
                    curves[name].append(per[name] or None)
                breaks.append(math.ceil(records[i]["break"] / fs))
            if (c0 // chunk) % 8 == 7 or idx[-1] + 1 == len(records):
                log(f"surprise: {idx[-1] + 1}/{len(records)} pairs ({time.time() - t0:.0f}s)")
        n_steps = int(f.ep_len[0])

    def table(name: str, window: int | None, context: int, horizon: int) -> dict:
        out = {}
        for prop in PROPERTIES:
            for split in SPLITS:
                idx = [
                    i
                    for i, r in enumerate(records)
                    if r["property"] == prop and r["split"] == split
                ]
                if not idx or any(curves[name][i] is None for i in idx):
                    continue  # e.g. the sweeps on ood pairs: not computed
                poss = [curves[name][i][0] for i in idx]
                imp = [curves[name][i][1] for i in idx]
                out[f"pairwise_{prop}_{split}"] = pairwise_accuracy(
                    poss,
                    imp,
                    [breaks[i] for i in idx],
                    window=window,
                    groups=[records[i]["group"] for i in idx],
                )
                first = context + horizon - 1  # first step predicted from a full context
                out[f"auroc_{prop}_{split}"] = auroc(
                    [float(c[first:].max()) for c in imp], [float(c[first:].max()) for c in poss]
                )
        return out

    results = {
        name: (
            table(name, h + int(name[7:]), h, int(name[7:]))
            if name.startswith("horizon")
            else table(name, int(name[7:]) + k, int(name[7:]), k)
            if name.startswith("context")
            else table(name, window, h, k)
        )
        for name in curves
        if any(c is not None for c in curves[name])
    }
    results["physjepa_whole_tail"] = table("physjepa", None, h, k)
    for name in list(results):
        results[name]["pairwise_mean"] = _mean(results[name], MECHANICAL, SPLITS)
    un = [results[f"untrained{u}"] for u in range(untrained)]
    untrained_summary = {key: float(np.mean([u[key] for u in un])) for key in un[0]}
    untrained_std = {key: float(np.std([u[key] for u in un])) for key in un[0]}
    per_prop = {}
    for prop in PROPERTIES:
        per_prop[prop] = {}
        for split in SPLITS:
            key = f"pairwise_{prop}_{split}"
            if key not in results["physjepa"]:
                continue
            per_prop[prop][split] = {
                "physjepa": results["physjepa"][key],
                "untrained": untrained_summary[key],
                "untrained_std": untrained_std[key],
                "pixel": results["pixel"].get(key),
                "oracle": results.get("oracle", {}).get(key),
                "auroc": results["physjepa"][f"auroc_{prop}_{split}"],
            }
            if relative:
                per_prop[prop][split]["physjepa_plain"] = results["physjepa_plain"][key]
    metrics = {}
    for prop in PROPERTIES:
        for split in SPLITS:
            if f"pairwise_{prop}_{split}" in results["physjepa"]:
                metrics[f"pairwise_{prop}_{split}"] = results["physjepa"][
                    f"pairwise_{prop}_{split}"
                ]
        if f"auroc_{prop}_id" in results["physjepa"]:
            metrics[f"auroc_{prop}_id"] = results["physjepa"][f"auroc_{prop}_id"]
    metrics["physjepa_pairwise_mean"] = results["physjepa"]["pairwise_mean"]
    if relative:  # the same model scored by its latent error alone
        plain = results["physjepa_plain"]
        for key in [x for x in plain if x.startswith("pairwise_")]:
            metrics[f"plain_{key}"] = plain[key]
    metrics["untrained_pairwise_mean"] = untrained_summary["pairwise_mean"]
    metrics["untrained_pairwise_std"] = float(np.std([u["pairwise_mean"] for u in un]))
    metrics["pixel_pairwise_mean"] = results["pixel"]["pairwise_mean"]
    if "oracle" in results:
        metrics["oracle_pairwise_mean"] = results["oracle"]["pairwise_mean"]

    out: dict[str, Any] = {
        "checkpoint_sha256": run.checkpoint_sha256(),
        "step": run.step,
        "pairs_file": str(pairs_file),
        "pairs_params": pairs_params,
        "pairs_per_property_and_split": max(
            len({r["group"] for r in records if (r["property"], r["split"]) == cell})
            for cell in {(r["property"], r["split"]) for r in records}
        ),
        "steps_per_video": n_steps,
        "context": h,
        "horizon": k,
        "window": window,
        "score": opts.score,
        "floor": opts.floor if relative else None,
        "power": opts.power if relative else None,
        "median_training_move": moves["physjepa"],
        "surprise_note": f"surprise at step t: latent error of the prediction of frame t rolled "
        f"{k} steps ahead from the {h} frames ending at t-{k}"
        + (
            f", divided by (how far the latent moved from frame t-{k} to t plus a floor of "
            f"{opts.floor} x the median such move on the run's training episodes) to the power "
            f"{opts.power} (score 'relative'; the latent error alone is "
            "results.physjepa_plain, metrics plain_*)"
            if relative
            else " (score 'plain')"
        )
        + ". Pairwise accuracy averages it "
        f"over the {window} steps from the breaking point (default context + horizon: every "
        "prediction whose context still holds a normal frame, and the first made from "
        "post-break frames only). Later, the model predicts from post-break frames only and "
        "what is on screen (a resting or vanished ball is easy to predict) decides instead of "
        "the violation; results.physjepa_whole_tail averages to the end of the video, for "
        "comparison.",
        "untrained_seeds": untrained,
        "scorers": {
            "physjepa": f"the run's model: latent surprise, score {opts.score!r}",
            "untrained": f"same architecture, {untrained} random inits (mean; spread as std), "
            "the same score",
            "pixel": f"next-frame pixel predictor, {base['pixel'][1]['n_params']} params, "
            f"{opts.pixel_steps} steps on the run's training episodes",
            "oracle": "next-state MLP on ground-truth simulator state (positions, velocities, "
            "varied params; appearance invisible to it)",
        },
        "baselines": {k: v[1] for k, v in base.items()},
        "table": per_prop,
        "context_sweep": {
            "note": "pairwise accuracy of the physjepa model at each context length (horizon "
            f"{k}, window {window}), in-distribution pairs; reported separately, the suite uses "
            f"the fixed context {h}",
            **{str(c): results.get(f"context{c}") for c in sweep_contexts},
        },
        "horizon_sweep": {
            "note": f"pairwise accuracy of the physjepa model at each horizon (context {h}, "
            f"window {h} + horizon), in-distribution pairs; reported separately, the suite "
            f"uses the fixed horizon {k}",
            **{str(j): results.get(f"horizon{j}") for j in sweep_horizons},
        },
        "results": {n: v for n, v in results.items() if not n.startswith(("context", "horizon"))},
        "groups": "permanence: each group is two pairs, (present, vanishes) and (absent, "
        "appears), compared by their sums (IntPhys's quadruplets); other properties: one pair",
        "metrics": metrics,
    }
    out["examples"] = _examples(records, curves, breaks)
    if not opts.no_probes:
        t0 = time.time()
        out["probes"] = probes(model, cfg, data_path, params, device)
        log(f"probes: {time.time() - t0:.0f}s")
        pr = out["probes"]  # empty when the training data has no state column
        for key, quantity in (("position", "ball_pos"), ("velocity", "ball_vel")):
            for kind, suffix in (("linear", ""), ("mlp", "_mlp")):
                if quantity in pr.get(kind, {}):
                    metrics[f"probe_r2_{key}{suffix}"] = pr[kind][quantity]
        for name, v in pr.get("params_linear", {}).items():  # from per-frame latents
            metrics[f"probe_r2_param_{name}_latents"] = v
            metrics[f"probe_r2_param_{name}_latents_mlp"] = pr["params_mlp"][name]
        if "params_context" in pr:  # the hidden ones from the predictor's context
            metrics.update(param_metrics(pr["params_context"], "probe_r2_param_"))
    out["seconds"] = round(time.time() - t_start, 1)
    run.write_result("voe.json", out)
    return out


def _mean(res: dict, props, splits) -> float:
    vals = [res[f"pairwise_{p}_{s}"] for p in props for s in splits if f"pairwise_{p}_{s}" in res]
    return float(np.mean(vals)) if vals else float("nan")


def _examples(records: list[dict], curves: dict, breaks: list[int]) -> dict:
    """For each property: the surprise curves of its first in-distribution pair."""
    out = {}
    for prop in PROPERTIES:
        for i, r in enumerate(records):
            if r["property"] == prop and r["split"] == "id":
                out[prop] = {
                    "break": breaks[i],
                    "event": r["event"],
                    "possible": [round(float(x), 6) for x in curves["physjepa"][i][0]],
                    "impossible": [round(float(x), 6) for x in curves["physjepa"][i][1]],
                }
                break
    return out


def format_table(res: dict) -> str:
    """The suite as one text table: pairwise accuracy (%) per property, id / ood."""
    cols = ["physjepa", "untrained", "pixel", "oracle"]
    if res.get("score") == "relative":  # the latent error alone beside the suite's score
        cols.insert(1, "physjepa_plain")
    head = f"{'property':<11}" + "".join(
        f"{c.replace('physjepa_', '') + ' id/ood':>20}" for c in cols
    )
    lines = [
        f"pairwise accuracy (%), {res['pairs_per_property_and_split']} pairs per cell "
        f"(permanence: groups of 2); surprise {res['horizon']} steps ahead from "
        f"{res['context']} frames"
        + (
            f" as a share of the latent's move (floor {res['floor']}, power "
            f"{res.get('power', 1.0)}; plain = the error alone)"
            if res.get("score") == "relative"
            else ""
        )
        + f", averaged over {res['window']} steps from the break; "
        f"untrained = mean of {res['untrained_seeds']} inits",
        head,
        "-" * len(head),
    ]

    def cell(row: dict, key: str) -> str:
        parts = []
        for split in SPLITS:
            v = row.get(split, {}).get(key)
            parts.append("  - " if v is None else f"{100 * v:5.1f}")
        return " / ".join(parts)

    for prop, row in res["table"].items():
        if prop == "colour":
            lines.append("-" * len(head) + "  (not mechanics)")
        lines.append(f"{prop:<11}" + "".join(f"{cell(row, c):>20}" for c in cols))
    m = res["metrics"]
    lines.append(
        f"mean of mechanical properties: physjepa {100 * m['physjepa_pairwise_mean']:.1f}, "
        f"untrained {100 * m['untrained_pairwise_mean']:.1f} ± "
        f"{100 * m['untrained_pairwise_std']:.1f}, "
        f"pixel {100 * m['pixel_pairwise_mean']:.1f}"
        + (f", oracle {100 * m['oracle_pairwise_mean']:.1f}" if "oracle_pairwise_mean" in m else "")
    )
    auc = ", ".join(f"{p} {m[f'auroc_{p}_id']:.2f}" for p in PROPERTIES if f"auroc_{p}_id" in m)
    lines.append(f"AUROC (max surprise, id): {auc}")
    if "probe_r2_position" in m:
        lines.append(
            f"probes R² (held-out, ball in view): position {m['probe_r2_position']:.3f} linear / "
            f"{m['probe_r2_position_mlp']:.3f} MLP, velocity {m['probe_r2_velocity']:.3f} / "
            f"{m['probe_r2_velocity_mlp']:.3f}"
        )
        params = [
            k[len("probe_r2_param_") : -len("_latents")]
            for k in m
            if k.startswith("probe_r2_param_") and k.endswith("_latents")
            and not k.endswith("_event_latents")
        ]  # fmt: skip
        if params:
            lines.append(
                f"params R² from per-frame latents ({PARAM_WINDOW} frames, linear / MLP): "
                + ", ".join(
                    f"{p} {m[f'probe_r2_param_{p}_latents']:.2f} / "
                    f"{m[f'probe_r2_param_{p}_latents_mlp']:.2f}"
                    for p in params
                )
            )
        hidden = [p for p in HIDDEN if f"probe_r2_param_{p}" in m]
        if hidden:
            lines.append(
                "hidden params R² from the predictor's context over event windows (16 / 8 "
                "frames; per-frame latents of the 16-frame windows): "
                + ", ".join(
                    f"{p} {m[f'probe_r2_param_{p}']:.2f} / {m[f'probe_r2_param_{p}_ctx8']:.2f}"
                    f" ({m[f'probe_r2_param_{p}_event_latents']:.2f})"
                    for p in hidden
                )
            )
            if all(f"probe_r2_param_{p}_true_state" in m for p in hidden):
                lines.append(
                    "the same probe on the ball's true position and velocity (its ceiling): "
                    + ", ".join(f"{p} {m[f'probe_r2_param_{p}_true_state']:.2f}" for p in hidden)
                )
    return "\n".join(lines)
