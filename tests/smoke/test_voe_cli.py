"""``physjepa voe generate`` and ``physjepa voe RUN`` end to end on the debug preset, through
``physjepa.cli.main`` in process, plus their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from clitools import assert_one_line_error, cli

from physjepa.data.voe_pairs import MECHANICAL, PROPERTIES, generate, read_pairs
from physjepa.device import resolve_device
from physjepa.report.html import render_report


def test_voe_generate(tmp_path):
    proc = cli(
        "voe", "generate", "--out", "p.h5", "--pairs", "1", "--steps", "30",
        "--properties", "shape,continuity", "--param", "vary={}", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "4 groups" in proc.stdout
    f, records = read_pairs(tmp_path / "p.h5")
    with f:
        assert {(r["property"], r["split"]) for r in records} == {
            (p, s) for p in ("shape", "continuity") for s in ("id", "ood")
        }
    proc = cli("inspect", "p.h5", cwd=tmp_path)
    assert proc.returncode == 0 and "voe pairs: shape id 1" in proc.stdout, proc.stdout
    # errors: one line each, nothing written
    bad = cli("voe", "generate", "--out", "q.h5", "--properties", "gravty", cwd=tmp_path)
    assert_one_line_error(bad, "voe generate", "gravty")
    bad = cli("voe", "generate", "--out", "q.h5", "--world", "two-room", cwd=tmp_path)
    assert_one_line_error(bad, "voe generate", "ball-drop")
    bad = cli("voe", "generate", "--out", "q.h5", "--param", 'vary={"mass": 3}', cwd=tmp_path)
    assert_one_line_error(bad, "voe generate", "vary")
    bad = cli("voe", "generate", "--out", "q.h5", "--seed", "-1", cwd=tmp_path)
    assert_one_line_error(bad, "voe generate", "--seed")
    bad = cli("voe", "generate", "--out", "p.h5", "--pairs", "1", cwd=tmp_path)
    assert_one_line_error(bad, "voe generate", "already exists")
    assert not (tmp_path / "q.h5").exists()


def test_voe_suite_on_a_debug_run(copy_run, tmp_path):
    run = copy_run()
    args = ["--pairs", "2", "--steps", "40", "--untrained", "2"]
    args += ["--pixel-steps", "20", "--oracle-steps", "50"]
    proc = cli("voe", run, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for prop in PROPERTIES:
        assert prop in out
    assert "pairwise accuracy" in out and "probes R²" in out
    res = json.loads((run / "voe.json").read_text())
    m, results = res["metrics"], res["results"]
    # 2 pairs per cell: a pairwise accuracy is a share of 2 (ties count half), an AUROC of
    # n impossible against n possible videos a multiple of 1 / (2 n^2): n = 2, or 4 for
    # permanence (2 groups of 2 pairs)
    for prop in PROPERTIES:
        for split in ("id", "ood"):
            key = f"pairwise_{prop}_{split}"
            assert m[key] in (0.0, 0.25, 0.5, 0.75, 1.0), (key, m[key])
            assert m[key] == results["physjepa"][key] == res["table"][prop][split]["physjepa"]
        n = 4 if prop == "permanence" else 2
        assert (2 * n * n * m[f"auroc_{prop}_id"]).is_integer(), m[f"auroc_{prop}_id"]
    # the summary means are the means of their parts
    mech = [results["physjepa"][f"pairwise_{p}_{s}"] for p in MECHANICAL for s in ("id", "ood")]
    assert m["physjepa_pairwise_mean"] == pytest.approx(np.mean(mech), abs=1e-12)
    untrained = [results[f"untrained{u}"]["pairwise_mean"] for u in range(2)]
    assert m["untrained_pairwise_mean"] == pytest.approx(np.mean(untrained), abs=1e-12)
    assert m["untrained_pairwise_std"] == pytest.approx(np.std(untrained), abs=1e-12)
    assert m["pixel_pairwise_mean"] == results["pixel"]["pairwise_mean"]
    assert m["oracle_pairwise_mean"] == results["oracle"]["pairwise_mean"]
    # the state oracle cannot see a render-only violation: the possible and the impossible
    # video have the same states, so every comparison is a tie
    for prop in ("permanence", "shape", "colour"):
        for split in ("id", "ood"):
            assert results["oracle"][f"pairwise_{prop}_{split}"] == 0.5, (prop, split)
            assert results["oracle"][f"auroc_{prop}_{split}"] == 0.5, (prop, split)
    # the sweeps at the suite's own context and horizon are the suite's in-distribution table
    for sweep, at in (("context_sweep", res["context"]), ("horizon_sweep", res["horizon"])):
        row = res[sweep][str(at)]
        for prop in PROPERTIES:
            for name in ("pairwise", "auroc"):
                key = f"{name}_{prop}_id"
                assert row[key] == results["physjepa"][key], (sweep, key)
    assert all(np.isfinite(m[f"probe_r2_{q}"]) for q in ("position", "velocity"))
    assert set(res["context_sweep"]) == {"note", "1", "2"}
    assert set(res["horizon_sweep"]) == {"note", "1", "2"} and res["horizon"] == 2
    assert len(res["examples"]) == len(PROPERTIES)
    assert res["checkpoint_sha256"] and res["pairs_per_property_and_split"] == 2
    html = render_report(run)
    assert "Intuitive physics" in html and "data:image/png;base64" in html
    assert "Could not render" not in html
    # a second call reuses the pairs file, and gives the same numbers (--device auto: the
    # CPU here; every scorer is seeded)
    proc = cli("voe", run, *args, "--no-probes", "--device", "auto", cwd=tmp_path)
    assert proc.returncode == 0 and "using the pairs in" in proc.stdout, proc.stderr
    again = json.loads((run / "voe.json").read_text())
    assert "probes" not in again
    if resolve_device("auto").type == "cpu":
        assert again["results"] == results
        assert again["metrics"] == {k: v for k, v in m.items() if not k.startswith("probe_")}
    # the suite's score is relative; the latent error alone is its own row, and --score plain
    # scores the model with exactly that row
    assert res["score"] == "relative" and (res["floor"], res["power"]) == (0.03, 0.75)
    assert res["median_training_move"] > 0
    for prop in PROPERTIES:
        for split in ("id", "ood"):
            key = f"pairwise_{prop}_{split}"
            assert m[f"plain_{key}"] == results["physjepa_plain"][key]
            assert res["table"][prop][split]["physjepa_plain"] == m[f"plain_{key}"]
    assert "plain id/ood" in out
    proc = cli("voe", run, *args, "--no-probes", "--score", "plain", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    plain = json.loads((run / "voe.json").read_text())
    assert plain["score"] == "plain" and "physjepa_plain" not in plain["results"]
    assert plain["results"]["physjepa"] == results["physjepa_plain"]
    assert not any(k.startswith("plain_") for k in plain["metrics"])
    assert "Intuitive physics" in render_report(run)
    proc = cli("voe", run, *args, "--floor", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--floor" in proc.stderr and "> 0" in proc.stderr
    proc = cli("voe", run, *args, "--power", "2", cwd=tmp_path)
    assert proc.returncode == 2 and "--power" in proc.stderr and "(0, 1]" in proc.stderr


def test_voe_suite_errors(two_room_run, copy_run, tmp_path):
    assert_one_line_error(cli("voe", tmp_path / "nope", cwd=tmp_path), "voe", "not a run")
    bad = cli("voe", two_room_run, "--pairs", "1", cwd=tmp_path)
    assert_one_line_error(bad, "voe", "ball-drop")
    run = copy_run()
    assert_one_line_error(cli("voe", run, "--context", "7", cwd=tmp_path), "voe", "--context")
    assert_one_line_error(cli("voe", run, "--pairs", "0", cwd=tmp_path), "voe", "--pairs")
    # a pairs file made for another setting: refused before any training, in one line
    other = generate(tmp_path / "other.h5", pairs=1, steps=24, properties=("shape",))
    bad = cli("voe", run, "--pairs-file", other, cwd=tmp_path)
    assert_one_line_error(bad, "voe", "64-pixel", "--pairs-file")
    assert_one_line_error(cli("voe", run, "--pairs-file", run / "config.json", cwd=tmp_path), "voe")
    meta = json.loads((run / "config.json").read_text())
    meta["data"]["path"] = str(tmp_path / "gone.h5")
    (run / "config.json").write_text(json.dumps(meta))
    assert_one_line_error(cli("voe", run, cwd=tmp_path), "voe", "gone.h5", "missing")
