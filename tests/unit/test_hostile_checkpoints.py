"""Checkpoints load only through safetensors and ``torch.load(weights_only=True)``: a file
carrying a pickle payload is refused without running it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from clitools import assert_one_line_error, cli

from physjepa.training.checkpoint import CheckpointError, load_run
from physjepa.training.loop import train


class Payload:
    """Unpickling this calls ``open(marker, "w")``: a real, if harmless, code-execution payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious_bytes(marker: Path) -> bytes:
    buf = io.BytesIO()
    torch.save({"step": 20, "optimizer": {}, "batch_rng": Payload(marker), "dir_rng": 0}, buf)
    return buf.getvalue()


def test_the_payload_is_real(tmp_path):
    """Loaded the unsafe way, the file does run code, so the refusals below mean something."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(malicious_bytes(marker))
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_resume_refuses_a_pickle_payload(copy_run, debug_cfg, tmp_path):
    run = copy_run()
    marker = tmp_path / "pwned"
    (run / "train_state.pt").write_bytes(malicious_bytes(marker))
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        train(debug_cfg, None, run, resume=True, progress=False)
    assert not marker.exists()


def test_weights_file_with_a_pickle_payload_is_refused(copy_run, tmp_path):
    run = copy_run()
    marker = tmp_path / "pwned"
    (run / "model.safetensors").write_bytes(malicious_bytes(marker))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_run(run)
    assert not marker.exists()


def test_cli_resume_refuses_it_in_one_line(copy_run, tmp_path):
    run = copy_run()
    marker = tmp_path / "pwned"
    (run / "train_state.pt").write_bytes(malicious_bytes(marker))
    res = cli("train", "--resume", "--out", run, "--quiet", cwd=tmp_path)
    assert_one_line_error(res, "train", "cannot be loaded safely")
    assert not marker.exists()
