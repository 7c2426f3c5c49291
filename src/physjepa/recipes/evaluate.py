"""``physjepa eval``: rollout error against horizon, linear probes, collapse diagnostics,
and (``--param-probe``) hidden params read from the predictor's context."""

from __future__ import annotations

import time

import torch

from physjepa.data.episodes import EpisodeFile, split_episodes
from physjepa.device import resolve_device
from physjepa.heads.viewer import rollout_strip, train_decoder
from physjepa.metrics.params import hidden_params, param_metrics, param_probe
from physjepa.metrics.probe import collapse_stats, linear_probe
from physjepa.metrics.rollout import encode_episodes, rollout_error
from physjepa.metrics.visibility import latent_visibility
from physjepa.options import EvalOptions
from physjepa.runs import Run
from physjepa.worlds import WorldError, make


def evaluate(
    opts: EvalOptions, device: torch.device | None = None, max_train_episodes: int = 200
) -> dict:
    """``physjepa eval``: evaluate a run on held-out episodes (the last ``data.val_fraction``
    of its own file, or of ``opts.data``, a file of the same world and observation spec);
    writes ``eval.json`` (and ``rollout_strip.png``)."""
    t0 = time.time()
    device = device or resolve_device(opts.device, "--device")
    run = Run.open(opts.run)
    cfg = run.config
    data_path = opts.data or run.data.path
    obs_key = run.data.obs_key
    with EpisodeFile(data_path) as file:
        run.check_data(file)
        if opts.param_probe:  # before the model loads: data without such params says so now
            hidden_params(file.world, file.state_spec)
        world, world_params = file.world, file.params
        model = run.load_model(device)
        train_eps, val_eps = split_episodes(file.n_episodes, cfg.data.val_fraction)
        train_eps = train_eps[:max_train_episodes]
        enc_train = encode_episodes(model, file, train_eps, cfg.data.frameskip, obs_key, device)
        enc_val = encode_episodes(model, file, val_eps, cfg.data.frameskip, obs_key, device)
        state_spec = file.state_spec

    result: dict = {
        "step": run.step,
        "checkpoint_sha256": run.checkpoint_sha256(),
        "data": str(data_path),
        "episodes_train": len(enc_train),
        "episodes_heldout": len(enc_val),
    }
    result["rollout"] = rollout_error(
        model, enc_val, cfg.eval.horizon, cfg.eval.max_windows, device
    )
    result["probe"] = (
        linear_probe(enc_train, enc_val, state_spec, cfg.eval.probe_window)
        if state_spec
        else {"linear": {}}
    )
    result["collapse"] = collapse_stats(torch.cat([ep.z for ep in enc_val]))
    h = cfg.eval.horizon
    metrics = {
        f"eval/rollout_ratio_h{h}": result["rollout"]["ratio"][-1],
        f"eval/rollout_error_h{h}": result["rollout"]["model"][-1],
        f"eval/baseline_error_h{h}": result["rollout"]["baseline"][-1],
        "eval/effective_rank": result["collapse"]["effective_rank"],
    }
    metrics.update({f"eval/probe_r2_{k}": v for k, v in result["probe"]["linear"].items()})
    if opts.param_probe:
        pp = param_probe(
            model,
            enc_train,
            enc_val,
            state_spec,
            world_params,
            world,
            cfg.data.frameskip,
            device=device,
        )
        result["param_probe"] = pp
        metrics.update(param_metrics(pp, "eval/probe_r2_param_"))
    result["visibility"], result["visibility_note"] = visibility(run, model)
    for name, v in (result["visibility"] or {}).items():
        metrics[f"eval/visibility_{name}"] = v["visibility"]
    result["metrics"] = metrics
    if not opts.no_viewer and obs_key == "pixels":
        dec = train_decoder(enc_train, steps=cfg.eval.viewer_steps)
        longest = max(enc_val, key=lambda e: len(e.z))
        rollout_strip(model, dec, longest, h, run.dir / "rollout_strip.png")
    result["seconds"] = round(time.time() - t0, 2)
    run.write_result("eval.json", result)
    return result


def visibility(run: Run, model, starts: int = 32) -> tuple[dict | None, str | None]:
    """(the latent-visibility table, None), or (None, why there is none): a run on vectors or
    imported data, or a world that lists no variables to move, reports the probe alone."""
    if run.data.obs_key != "pixels":
        return None, f"the run observes {run.data.obs_key}, not frames of a simulator"
    try:
        world = make(run.data.world or "", image_size=run.shape.obs_shape[0], **run.data.params)
        return latent_visibility(model, world, starts=starts), None
    except WorldError as e:
        return None, str(e)


def format_table(result: dict) -> str:
    """The eval result as a plain-text table for the terminal."""
    lines = [
        "rollout error vs horizon (normalised latent MSE)",
        f"  {'h':>3} {'model':>9} {'same':>9} {'ratio':>7}",
    ]
    r = result["rollout"]
    for h, m, b, q in zip(r["horizon"], r["model"], r["baseline"], r["ratio"]):
        lines.append(f"  {h:>3} {m:9.4f} {b:9.4f} {q:7.3f}")
    lines.append(f"linear probe R² on held-out episodes ({result['probe'].get('features', '')})")
    for k, v in result["probe"]["linear"].items():
        lines.append(f"  {k:<20} {v:7.3f}")
    pp = result.get("param_probe")
    if pp:
        lengths = sorted(pp["context"], key=int)
        lines.append(
            "hidden params: linear probe R² on held-out episodes, from the predictor's context "
            "(the per-frame latents of the same windows in brackets; the ceiling: the ball's "
            f"true position and velocity over {lengths[-1]} frames)"
        )
        lines.append(
            f"  {'param':<12} {'event':<7}"
            + "".join(f"{n + ' frames':>20}" for n in lengths)
            + f"{'true motion':>13}"
        )
        ceiling = pp.get("true_state", {}).get(lengths[-1], {})
        for name in pp["context"][lengths[0]]:
            cells = "".join(
                f"{pp['context'][n][name]['r2']:9.3f} ({pp['latents'][n][name]['r2']:6.3f}) "
                for n in lengths
            )
            top = f"{ceiling[name]['r2']:12.3f}" if name in ceiling else f"{'-':>12}"
            lines.append(f"  {name:<12} {pp['events'][name]:<7}{cells}{top}")
    if result.get("visibility"):
        lines.append(
            "latent visibility (latent distance of a move ÷ the reference's; 1 = as visible)"
        )
        for k, v in result["visibility"].items():
            lines.append(f"  {k:<20} {v['visibility']:7.3f}")
    c = result["collapse"]
    lines.append(
        f"collapse: per-dim std min {c['std_min']:.3f} mean {c['std_mean']:.3f} max "
        f"{c['std_max']:.3f}; effective rank {c['effective_rank']:.1f} of {c['dim']}"
    )
    return "\n".join(lines)
