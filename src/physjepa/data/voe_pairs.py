"""Violation-of-expectation pairs: matched possible / impossible videos in ``ball-drop``.

Each pair is one seeded, passive (zero-action) episode simulated twice: once as it is
(possible) and once with a scripted ``event`` (impossible; see ``worlds/ball_drop.py``). The
two videos are identical, frame for frame, before the *breaking point*: the first frame whose
pixels differ. The event is chosen by looking at the possible trajectory, so that it breaks
exactly one principle where it can be seen:

========== ===================================================================================
permanence the ball vanishes while hidden behind the occluder and never comes out again;
           and, matched with it, a ball that was never there comes out from behind it
continuity the ball jumps 0.25-0.4 arena units in free flight (same velocity)
shape      the ball turns into a square of the same width
solidity   the ball passes through the wall or peg it was about to hit
gravity    in free flight the ball stops and hovers, or starts falling upwards
inertia    in free flight the ball stops dead or turns by 90 degrees, with nothing touching it
collision  in free flight the ball bounces off nothing (its main velocity component reflects)
colour     the ball changes colour (not a violation of mechanics; its own row)
========== ===================================================================================

Every violation must be visible: the impossible ball's path parts from the possible one by
at least a ball radius within ``AFTER_BREAK`` frames of the breaking point (episodes where it
would not are skipped; a ball hovering at the top of its arc, for one, barely differs).

Permanence follows IntPhys's design: each episode gives a *group* of two pairs, (ball
present, ball vanishes) and (ball absent, ball appears), whose four videos balance what is on
screen after the breaking point (a ball in one possible and one impossible video, an empty
occluder in the others), so the comparison sums each group's two possible and two impossible
videos and measures only the events themselves. Every other property has groups of one pair.

Splits: ``id`` uses the params the model was trained on (``vary`` ranges included); ``ood``
draws every varied param from just above its training range and gives the ball a colour it
never had (:func:`ood_params`). Pairs are deterministic per seed. Permanence needs an
occluder: params without one get the VoE setting's for those pairs only (``occluder_added``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from physjepa.data.episodes import DataError, EpisodeFile, EpisodeWriter
from physjepa.options import VOE_PROPERTIES
from physjepa.worlds import WorldError, make
from physjepa.worlds.ball_drop import _LIMITS

PROPERTIES = VOE_PROPERTIES  # one home (options.py, where the CLI validates --properties)
MECHANICAL = PROPERTIES[:-1]
#: Properties whose violation moves the ball off its path (the others change the drawing).
MOVES = ("continuity", "solidity", "gravity", "inertia", "collision")
SPLITS = ("id", "ood")
WORLD = "ball-drop"

#: ball-drop params of the intuitive-physics setting: an occluder, and physics that varies
#: from episode to episode (what a model for ``physjepa voe`` is trained on).
VOE_PARAMS: dict[str, Any] = {
    "occluder": [0.6, 0.45, 0.82, 0.67],  # a small screen: the ball hides briefly
    "vary": {
        "gravity": [0.6, 1.4],
        "restitution": [0.6, 0.9],
        "radius": [0.06, 0.08],
        "friction": [0.1, 0.5],
        "mass": [0.5, 2.0],
    },
}
NEW_COLOURS = [(90, 200, 90), (70, 130, 240), (240, 220, 60)]  # candidates for ood / colour
FIRST_BREAK = 10  # earliest breaking point: the model has seen 10 normal frames
AFTER_BREAK = 8  # frames after the breaking point, at least


def ood_params(params: dict[str, Any]) -> dict[str, Any]:
    """Out-of-distribution params: every varied param drawn from above its training range
    (``[high + w/4, high + 3w/4]``, ``w`` the range's width; below it where the param's limit
    leaves no room above), and a ball colour the training params never used."""
    q = json.loads(json.dumps(params))  # deep copy as plain JSON values
    vary = {}
    for key, (low, high) in q.get("vary", {}).items():
        w = max(high - low, 0.1 * max(abs(high), 1e-3))
        lo_lim, hi_lim = _LIMITS[key]
        if high + 0.75 * w <= hi_lim:
            vary[key] = [high + 0.25 * w, high + 0.75 * w]
        elif low - 0.75 * w >= lo_lim:
            vary[key] = [low - 0.75 * w, low - 0.25 * w]
        else:
            vary[key] = [max(high, hi_lim - 0.25 * w), hi_lim]
    q["vary"] = vary
    colours = [tuple(c) for c in q.get("ball_colors", make(WORLD).params["ball_colors"])]
    fresh = [c for c in NEW_COLOURS if c != colours[0] and c not in colours[1:]]
    q["ball_colors"] = [list(fresh[0])] + [list(c) for c in colours[1:]]
    return q


# -- one pair --------------------------------------------------------------------------------
def _run(params: dict[str, Any], seed: int, steps: int, image_size: int, draw: bool = True):
    """A passive episode: frames (T, H, W, 3) (None unless ``draw``), states (T, S), and the
    episode's params."""
    world = make(WORLD, image_size=image_size, **params)
    obs, _ = world.reset(seed=seed)
    zero = np.zeros(2, np.float32)
    frames, states = [obs], [world.state_vector()]
    for _ in range(steps - 1):
        world.advance(zero)
        if draw:
            frames.append(world.render())
        states.append(world.state_vector())
    return (np.stack(frames) if draw else None), np.stack(states), world.episode_params()


class _Trajectory:
    """What an event needs to know about ball 0's passive trajectory."""

    def __init__(self, states: np.ndarray, p: dict[str, Any]):
        n_balls = p["n_balls"]  # state vector: ball_pos (n, 2), ball_vel (n, 2), varied params
        self.pos = states[:, 0:2].astype(np.float64)
        self.vel = states[:, 2 * n_balls : 2 * n_balls + 2].astype(np.float64)
        self.p, self.r, n = p, p["radius"], len(states)
        dv = np.zeros(n)
        dv[1:] = np.linalg.norm(
            self.vel[1:] - self.vel[:-1] - np.array([0.0, -p["gravity"] * p["dt"]]), axis=1
        )
        self.dv = dv  # velocity change not explained by gravity: contacts
        occ = p["occluder"]
        if occ is None:
            self.hidden = np.zeros(n, bool)
            self.clear = np.ones(n, bool)
        else:
            x0, y0, x1, y1 = occ
            inside = (
                (self.pos[:, 0] >= x0 + self.r)
                & (self.pos[:, 0] <= x1 - self.r)
                & (self.pos[:, 1] >= y0 + self.r)
                & (self.pos[:, 1] <= y1 - self.r)
            )
            self.hidden = inside  # wholly behind the occluder
            self.clear = occluder_gap(self.pos, occ) > self.r + 0.01  # wholly in view

    def margin(self, t: int) -> float:
        """Distance from ball 0's surface to the nearest wall or the peg at frame t."""
        return _surface_margin(self.pos[t], self.r, self.p)

    def free(self, t: int, before: int = 2, after: int = 4, margin: float = 0.05) -> bool:
        """In free flight and in view around frame t: no contact, far from every surface."""
        lo, hi = max(t - before, 1), min(t + after, len(self.pos) - 1)
        return bool(
            (self.dv[lo : hi + 1] < 0.08).all()
            and all(self.margin(s) > margin for s in range(lo, hi + 1))
            and self.clear[t - 1 : hi + 1].all()
        )


def _surface_margin(xy: np.ndarray, r: float, p: dict[str, Any]) -> float:
    """Distance from the surface of a ball of radius ``r`` at ``xy`` to the nearest wall or
    the peg (params ``p``)."""
    x, y = xy
    m = min(x, 1 - x, y, 1 - y) - r
    if p["obstacle"]:
        ox, oy = p["obstacle_pos"]
        m = min(m, np.hypot(x - ox, y - oy) - r - p["obstacle_radius"])
    return float(m)


def _candidates(n: int, ok: Callable[[int], bool]) -> list[int]:
    return [t for t in range(FIRST_BREAK, n - AFTER_BREAK) if ok(t)]


def _event(prop: str, tr: _Trajectory, rng: np.random.Generator, seed: int) -> dict | None:
    """The scripted event that makes the impossible video of a pair, or None if this episode
    offers no place for it."""
    n, p = len(tr.pos), tr.p
    if prop == "permanence":
        # the ball goes behind the occluder (seen before) and comes out before the end
        for t_out in range(FIRST_BREAK + 1, n - AFTER_BREAK):
            if tr.hidden[t_out - 1] and not tr.hidden[t_out]:
                t_in = t_out - 1
                while t_in > 0 and tr.hidden[t_in - 1]:
                    t_in -= 1
                if t_in >= 3 and tr.clear[:t_in].any():
                    return {"kind": "vanish", "step": t_in}
        return None
    if prop == "solidity":  # the first real impact on a wall or the peg, in view
        for t in range(FIRST_BREAK, n - AFTER_BREAK):
            if tr.dv[t] > 0.3 and tr.clear[t - 1 : t + 2].all() and (tr.dv[t - 3 : t] < 0.08).all():
                return {"kind": "pass_through", "step": t}
        return None
    if prop in ("shape", "colour"):
        ts = _candidates(n, lambda t: bool(tr.clear[t : t + 6].all()))
        if not ts:
            return None
        b = int(rng.choice(ts))
        if prop == "shape":
            return {"kind": "shape", "step": b, "shape": "square"}
        colour = next(c for c in NEW_COLOURS if c != tuple(p["ball_colors"][0]))
        return {"kind": "colour", "step": b, "color": list(colour)}
    if prop == "continuity":
        ts = _candidates(n, lambda t: tr.free(t))
        rng.shuffle(ts)
        for b in ts:
            for _ in range(20):
                angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.4)
                new = tr.pos[b - 1] + dist * np.array([np.cos(angle), np.sin(angle)])
                if (
                    _surface_margin(new, tr.r, p) > 0.05
                    and occluder_gap(new, p["occluder"])[0] > tr.r + 0.01
                ):
                    return {"kind": "teleport", "step": b, "position": [float(c) for c in new]}
        return None
    speed = np.linalg.norm(tr.vel, axis=1)
    if prop == "gravity":
        ts = _candidates(n, lambda t: tr.free(t) and tr.pos[t - 1, 1] > 0.35)
        if not ts:
            return None
        b = int(rng.choice(ts))
        if seed % 2:  # falls upwards
            return {"kind": "gravity", "step": b, "gravity": -p["gravity"], "stop": False}
        return {"kind": "gravity", "step": b, "gravity": 0.0, "stop": True}  # hovers
    if prop in ("inertia", "collision"):
        least = 0.3 if prop == "inertia" else 0.4
        ts = _candidates(n, lambda t: tr.free(t, margin=0.08) and speed[t - 1] > least)
        if not ts:
            return None
        b = int(rng.choice(ts))
        v = tr.vel[b - 1] + np.array([0.0, -p["gravity"] * p["dt"]])  # as it would be at b
        if prop == "inertia":
            if seed % 2:  # turns by 90 degrees, same speed
                v = np.array([-v[1], v[0]]) * rng.choice([-1.0, 1.0])
            else:  # stops dead
                v = np.zeros(2)
        else:  # reflects its main component, as off an invisible wall, floor or ceiling
            axis = int(abs(v[1]) > abs(v[0]))
            v = v.copy()
            v[axis] *= -p["restitution"]
        return {"kind": "velocity", "step": b, "velocity": [float(c) for c in v]}
    raise WorldError(f"unknown property {prop!r}; valid: {', '.join(PROPERTIES)}")


def occluder_gap(pos: np.ndarray, occ) -> np.ndarray:
    """Distance from ball centres ``pos`` (N, 2) to the occluder rectangle (0 inside it);
    a ball of radius r is wholly in view where the gap exceeds r. No occluder: infinite."""
    pos = np.asarray(pos, np.float64).reshape(-1, 2)
    if occ is None:
        return np.full(len(pos), np.inf)
    x0, y0, x1, y1 = occ
    dx = np.maximum(np.maximum(x0 - pos[:, 0], pos[:, 0] - x1), 0.0)
    dy = np.maximum(np.maximum(y0 - pos[:, 1], pos[:, 1] - y1), 0.0)
    return np.hypot(dx, dy)


def make_pairs(
    params: dict[str, Any], prop: str, seed: int, steps: int = 40, image_size: int = 64
) -> list[dict[str, Any]]:
    """The matched pairs of episode ``seed`` for ``prop`` (one; two for permanence), or []
    when the episode has no place for the event.

    Each pair: ``{"possible": frames, "impossible": frames, "state_possible",
    "state_impossible", "break": first differing frame, "event": the impossible video's event,
    "possible_event": the possible video's (None but for a permanence 'absent' video),
    "episode_params": the varied params' values}``.
    """
    _, states, ep = _run(params, seed, steps, image_size, draw=False)
    rng = np.random.default_rng([seed, PROPERTIES.index(prop)])
    event = _event(prop, _Trajectory(states, ep), rng, seed)
    if event is None:
        return []
    frames, states, _ = _run(params, seed, steps, image_size)
    videos = [(None, event)]
    if prop == "permanence":  # the matched (absent, appears) pair
        videos.append(({"kind": "vanish", "step": 0}, {"kind": "appear", "step": event["step"]}))
    out = []
    for ev_possible, ev_impossible in videos:
        if ev_possible is None:
            f1, s1 = frames, states
        else:
            f1, s1, _ = _run({**params, "event": ev_possible}, seed, steps, image_size)
        f2, s2, _ = _run({**params, "event": ev_impossible}, seed, steps, image_size)
        differ = np.nonzero((f1 != f2).reshape(steps, -1).any(axis=1))[0]
        if not len(differ) or not FIRST_BREAK <= differ[0] <= steps - AFTER_BREAK:
            return []
        b = differ[0]
        if prop in MOVES:  # visible: the paths part by a ball radius within AFTER_BREAK frames
            gap = np.linalg.norm(s1[b : b + AFTER_BREAK, :2] - s2[b : b + AFTER_BREAK, :2], axis=1)
            if gap.max() < ep["radius"]:
                return []
        out.append(
            {
                "possible": f1,
                "impossible": f2,
                "state_possible": s1,
                "state_impossible": s2,
                "break": int(differ[0]),
                "event": ev_impossible,
                "possible_event": ev_possible,
                "episode_params": {k: ep[k] for k in sorted(ep.get("vary", {}))},
            }
        )
    return out


# -- a file of pairs ---------------------------------------------------------------------------
def generate(
    out: str | Path,
    params: dict[str, Any] | None = None,
    pairs: int = 50,
    steps: int = 40,
    seed: int = 0,
    properties: tuple[str, ...] = PROPERTIES,
    splits: tuple[str, ...] = SPLITS,
    image_size: int = 64,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``pairs`` groups per property and split (at most 500) to an episode file (a
    group is one pair, two for permanence; 2 episodes per pair: possible, then impossible;
    zero actions). The
    file attribute ``voe_json`` lists the pairs: property, split, group, episode seed,
    breaking point, events."""
    params = dict(VOE_PARAMS if params is None else params)
    unknown = sorted(set(properties) - set(PROPERTIES))
    if unknown:
        raise WorldError(f"unknown propert(y/ies) {unknown}; valid: {', '.join(PROPERTIES)}")
    bad = sorted(set(splits) - set(SPLITS))
    if bad:
        raise WorldError(f"unknown split(s) {bad}; valid: id, ood")
    if "event" in params and params["event"] is not None:
        raise WorldError("the VoE params must not hold an event: the pairs script their own")
    if params.get("n_balls", 1) != 1:
        raise WorldError(f"VoE pairs are made with one ball; got n_balls={params['n_balls']!r}")
    if not isinstance(seed, int) or seed < 0:
        raise DataError(f"--seed must be an integer >= 0, got {seed!r}")
    if not 1 <= pairs <= 500 or steps < FIRST_BREAK + AFTER_BREAK + 1:
        raise DataError(
            f"need --pairs in [1, 500] and --steps >= {FIRST_BREAK + AFTER_BREAK + 1}, "
            f"got {pairs} and {steps}"
        )
    world = make(WORLD, image_size=image_size, **params)  # validates the params
    world.reset(seed=0)
    split_params = {"id": params, "ood": ood_params(params)}
    records: list[dict] = []
    n_groups = 0
    attrs = {
        "world": WORLD,
        "params_json": json.dumps(world.params, default=list),
        "fps": float(world.metadata["render_fps"]),
        "image_size": image_size,
        "policy": "zero",
        "seed": seed,
        "state_spec_json": json.dumps(world.state_spec()),
        "voe_params_json": json.dumps(split_params, default=list),
    }
    zeros = np.zeros((steps, 2), np.float32)
    with EpisodeWriter(out, attrs, overwrite=overwrite) as writer:
        for split in splits:
            for prop in properties:
                found, tried = 0, 0
                # disjoint seed streams per (split, property): adding one never moves another
                base = (seed * 1000 + SPLITS.index(split) * 100 + PROPERTIES.index(prop)) * 100_000
                while found < pairs:
                    if tried >= 200 * pairs:
                        raise WorldError(
                            f"found only {found} of {pairs} {prop} pairs ({split}) in {tried} "
                            f"episodes; the params leave no room for this event"
                        )
                    ep_seed = base + tried
                    tried += 1
                    group = make_pairs(
                        _with_occluder(split_params[split], prop), prop, ep_seed, steps, image_size
                    )
                    for pair in group:
                        for kind in ("possible", "impossible"):
                            writer.append(
                                {
                                    "pixels": pair[kind],
                                    "action": zeros,
                                    "state": pair[f"state_{kind}"],
                                }
                            )
                        records.append(
                            {
                                "property": prop,
                                "split": split,
                                "group": n_groups,
                                "seed": ep_seed,
                                "break": pair["break"],
                                "event": pair["event"],
                                "possible_event": pair["possible_event"],
                                "episode_params": pair["episode_params"],
                                "occluder_added": prop == "permanence"
                                and split_params[split].get("occluder") is None,
                            }
                        )
                    if group:
                        found += 1
                        n_groups += 1
                        if progress:
                            progress(1)
        writer.set_attrs({"voe_json": json.dumps(records)})
        return writer.close()


def _with_occluder(params: dict[str, Any], prop: str) -> dict[str, Any]:
    """Permanence needs something to hide behind: params without an occluder get the VoE
    setting's one for that property (recorded as ``occluder_added`` in the pair records)."""
    if prop == "permanence" and params.get("occluder") is None:
        return {**params, "occluder": VOE_PARAMS["occluder"]}
    return params


def read_pairs(path: str | Path) -> tuple[EpisodeFile, list[dict]]:
    """An open pairs file and its pair records (pair i = episodes 2i and 2i+1)."""
    f = EpisodeFile(path)
    raw = f.attrs().get("voe_json")
    try:
        records = json.loads(raw)
        ok = isinstance(records, list) and 2 * len(records) == f.n_episodes
        ok = ok and all(
            r["property"] in PROPERTIES and r["split"] in SPLITS and isinstance(r["group"], int)
            for r in records
        )
    except (TypeError, ValueError, KeyError):
        ok = False
    if not ok:
        f.close()
        raise DataError(
            f"{path} is not a VoE pairs file (no valid voe_json attribute); "
            "make one with 'physjepa voe generate'"
        )
    return f, records
