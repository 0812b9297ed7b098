"""Device selection of the torch backend: clear errors without CUDA, and the CUDA run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from biosynapse_verify.cli import main
from biosynapse_verify.errors import BadInputError
from biosynapse_verify.simulate import get_backend
from biosynapse_verify.simulate.torch_backend import resolve_device
from biosynapse_verify.spec import load_spec

SONG = Path(__file__).resolve().parents[1] / "networks" / "song2000.yaml"

without_cuda = pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has CUDA"
)
with_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@without_cuda
def test_cuda_without_gpu_rejected() -> None:
    with pytest.raises(BadInputError, match="CUDA is not available") as caught:
        get_backend("torch", device="cuda")
    assert "device 'cpu'" in str(caught.value)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", ""])
def test_invalid_device_string_rejected(device: str) -> None:
    with pytest.raises(BadInputError, match="invalid device"):
        resolve_device(device)


@pytest.mark.parametrize("device", ["meta", "mps"])
def test_unsupported_device_type_rejected(device: str) -> None:
    with pytest.raises(BadInputError, match="not supported"):
        resolve_device(device)


def test_missing_cuda_index_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(BadInputError, match="has 1 CUDA device"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("device", ["cpu", "cpu:0", torch.device("cpu")])
def test_cpu_spellings_accepted(device: str | torch.device) -> None:
    assert resolve_device(device).type == "cpu"


@without_cuda
def test_cli_cuda_without_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", str(SONG), "--device", "cuda", "--duration", "0.01"])
    assert code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("biosynapse-verify: error:")
    assert "CUDA is not available" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "options, message",
    [
        ({"engine": "fast"}, "unknown engine"),
        ({"dtype": torch.float16}, "dtype must be"),
        ({"threads": 0}, "threads must be"),
    ],
)
def test_invalid_backend_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        get_backend("torch", **options)


@with_cuda
@pytest.mark.parametrize("engine", ["event", "clock"])
def test_cuda_run_matches_cpu_in_distribution(engine: str) -> None:
    # A CUDA generator draws other Poisson spikes than the CPU one, so only
    # statistics can agree: the output rate of 4 seeds over 2 s.
    spec = load_spec(SONG)
    seeds = [0, 1, 2, 3]
    cuda = get_backend("torch", device="cuda", engine=engine).run(
        spec, seeds=seeds, duration=2.0
    )
    cpu = get_backend("torch", engine=engine).run(spec, seeds=seeds, duration=2.0)
    weights = cuda.final_weights("feedforward")
    assert weights.min() >= 0.0
    assert weights.max() <= spec.projections[0].w_max
    rate_cuda = cuda.spike_counts["post"].mean() / 2.0
    rate_cpu = cpu.spike_counts["post"].mean() / 2.0
    assert abs(rate_cuda - rate_cpu) <= 0.3 * rate_cpu
    assert np.all(np.isfinite(cuda.window_rates["post"]))
