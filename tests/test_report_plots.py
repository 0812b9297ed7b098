"""Tests of the report figures: PNG output, axis choices, notes and input checks."""

from __future__ import annotations

import io
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread

from biosynapse_verify.report import plots
from biosynapse_verify.report.plots import (
    decay_rate_figure,
    distance_figure,
    plot_decay_rates,
    plot_distance,
    plot_spectrum,
    plot_weight_histograms,
    spectrum_figure,
    weight_histogram_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _image_shape(png: bytes) -> tuple[int, ...]:
    return imread(io.BytesIO(png), format="png").shape


def _figure_texts(figure) -> list[str]:
    texts = [t.get_text() for t in figure.texts]
    for axes in figure.axes:
        texts += [t.get_text() for t in axes.texts]
    return texts


def _legend_labels(axes) -> list[str]:
    return [t.get_text() for t in axes.get_legend().get_texts()]


# --- spectrum ------------------------------------------------------------------


def test_spectrum_png_size(tmp_path):
    rng = np.random.default_rng(0)
    eigenvalues = -rng.uniform(0.01, 1.0, 5000) + 1j * rng.normal(0, 0.1, 5000)
    path = tmp_path / "spectrum.png"
    png = plot_spectrum(eigenvalues, title="5000 eigenvalues", path=path)
    assert png.startswith(PNG_SIGNATURE)
    height, width = _image_shape(png)[:2]
    assert (width, height) == (8 * plots.PNG_DPI, 5 * plots.PNG_DPI)
    assert path.read_bytes() == png


def test_spectrum_counts_unstable():
    eigenvalues = np.array([-1.0, -2.0 + 1j, -2.0 - 1j, 0.5, 0.25])
    figure = spectrum_figure(eigenvalues, title="t")
    axes = figure.axes[0]
    labels = _legend_labels(axes)
    assert "Re λ > 0 (2)" in labels
    assert "Re λ ≤ 0 (3)" in labels
    assert any("Re λ > 0: 2" in text for text in _figure_texts(figure))


def test_spectrum_shows_imaginary_axis_and_all_points():
    eigenvalues = np.array([-3.0, -1.0 + 2j, -1.0 - 2j, 0.2])
    axes = spectrum_figure(eigenvalues, title="t").axes[0]
    vertical = [line for line in axes.get_lines() if list(line.get_xdata()) == [0, 0]]
    assert len(vertical) == 1
    low, high = axes.get_xlim()
    assert low < -3.0
    assert high > 0.2
    bottom, top = axes.get_ylim()
    assert bottom < -2.0
    assert top > 2.0


def test_spectrum_symlog_when_decades_apart():
    # Rate eigenvalue near -1/tau_r = -100 beside slow weight modes near -1e-3.
    eigenvalues = np.concatenate([-np.linspace(1e-3, 5e-3, 500), [-100.0], [2e-5]])
    axes = spectrum_figure(eigenvalues, title="t").axes[0]
    assert axes.get_xscale() == "symlog"
    low, high = axes.get_xlim()
    assert low <= -100.0
    assert high >= 2e-5
    # The unstable eigenvalue sits on the log part, right of the linear band.
    assert axes.xaxis.get_transform().linthresh <= 2e-5


def test_spectrum_symlog_for_fast_rate_mode():
    # 100 weight modes at -1.37 1/s and one rate mode at -100 1/s: on a linear
    # axis the weight modes would sit on the imaginary axis.
    eigenvalues = np.concatenate([np.full(100, -1.36786), [-100.0]]) + 0j
    axes = spectrum_figure(eigenvalues, title="t").axes[0]
    assert axes.get_xscale() == "symlog"


def test_spectrum_linear_when_comparable():
    eigenvalues = -np.linspace(0.5, 3.0, 100) + 0j
    axes = spectrum_figure(eigenvalues, title="t").axes[0]
    assert axes.get_xscale() == "linear"


def test_real_spectrum_gets_fixed_band():
    eigenvalues = np.array([-1.0, -2.0, -4.0]) + 1j * np.array([0.0, 1e-17, -1e-17])
    axes = spectrum_figure(eigenvalues, title="t").axes[0]
    assert axes.get_yscale() == "linear"
    assert axes.get_ylim() == pytest.approx((-0.2, 0.2))


def test_spectrum_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected shape \(n,\)"):
        plot_spectrum(np.zeros((2, 2)), title="t")
    with pytest.raises(ValueError, match="NaN or infinite"):
        plot_spectrum(np.array([1.0, np.nan]), title="t")
    with pytest.raises(ValueError, match=r"expected shape \(n,\)"):
        plot_spectrum(np.array([]), title="t")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([-1.0, -2.0, -5.0]), "linear"),
        (np.array([0.0, 0.0]), "linear"),
        (np.concatenate([-np.ones(50) * 1e-3, [-1e3]]), "symlog"),
        # One tiny value among comparable ones does not force symlog.
        (np.concatenate([np.linspace(1, 2, 50), [1e-12]]), "linear"),
    ],
)
def test_choose_scale(values, expected):
    scale, linthresh = plots._choose_scale(values)
    assert scale == expected
    if expected == "symlog":
        assert np.log10(linthresh) == pytest.approx(round(np.log10(linthresh)))
        assert linthresh <= 1e-3


def test_choose_scale_limits_decades():
    values = np.concatenate([np.full(50, 1e-20), [1.0]])
    scale, linthresh = plots._choose_scale(values)
    assert scale == "symlog"
    assert linthresh == pytest.approx(10.0**-plots.SYMLOG_MAX_DECADES)


def test_choose_scale_keeps_value_visible():
    values = np.concatenate([np.full(50, -1e-2), [-1e3]])
    _, default = plots._choose_scale(values)
    _, lowered = plots._choose_scale(values, keep_visible=np.array([3e-5]))
    assert default == pytest.approx(1e-2)
    assert lowered == pytest.approx(1e-5)


# --- weights -----------------------------------------------------------------------


def _weights(rng, n_seeds=3, n_times=20, n_syn=200, w_max=0.015):
    start = rng.uniform(0, w_max, (n_seeds, 1, n_syn))
    blend = np.linspace(0, 1, n_times)[None, :, None]
    target = w_max * (start > 0.5 * w_max)
    return start + (target - start) * blend


def test_weight_histograms_png():
    rng = np.random.default_rng(1)
    times = np.linspace(0, 100, 20)
    png = plot_weight_histograms(times, _weights(rng), 0.0, 0.015, title="w")
    height, width = _image_shape(png)[:2]
    assert (width, height) == (int(11.0 * plots.PNG_DPI), int(4.2 * plots.PNG_DPI))


def test_weight_histogram_snapshots():
    rng = np.random.default_rng(1)
    times = np.linspace(0, 100, 20)
    figure = weight_histogram_figure(
        times, _weights(rng), 0.0, 0.015, title="w", n_snapshots=3
    )
    labels = _legend_labels(figure.axes[0])
    assert labels == ["t = 0 s", "t = 52.63 s", "t = 100 s"]


def test_weight_fractions_sum_to_one():
    rng = np.random.default_rng(2)
    weights = _weights(rng)
    edges = np.linspace(0.0, 0.015, 51)
    fractions = plots._weight_fractions(weights, edges)
    assert fractions.shape == (50, 20)
    np.testing.assert_allclose(fractions.sum(axis=0), 1.0)


def test_out_of_bound_weights_noted(caplog):
    rng = np.random.default_rng(3)
    weights = _weights(rng)
    weights[0, -1, :5] = -0.002  # a backend that did not clip
    figure = weight_histogram_figure(
        np.linspace(0, 1, 20), weights, 0.0, 0.015, title="w"
    )
    notes = [text for text in _figure_texts(figure) if "outside" in text]
    assert notes == ["5 of 12000 weight samples outside [0, 0.015]"]
    assert figure.axes[0].get_xlim()[0] < -0.002
    assert "lie outside" in caplog.text


def test_clipped_weights_not_noted():
    rng = np.random.default_rng(4)
    figure = weight_histogram_figure(
        np.linspace(0, 1, 20), _weights(rng), 0.0, 0.015, title="w"
    )
    assert not [text for text in _figure_texts(figure) if "outside" in text]


def test_weight_histograms_reject_bad_input():
    rng = np.random.default_rng(5)
    weights = _weights(rng)
    with pytest.raises(ValueError, match=r"expected shape \(B, 19, n_syn\)"):
        plot_weight_histograms(np.linspace(0, 1, 19), weights, 0.0, 0.015, title="w")
    with pytest.raises(ValueError, match="strictly increasing"):
        plot_weight_histograms(np.zeros(20), weights, 0.0, 0.015, title="w")
    with pytest.raises(ValueError, match="w_min < w_max"):
        plot_weight_histograms(np.linspace(0, 1, 20), weights, 0.015, 0.0, title="w")
    weights[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"at index \(1, 2, 3\)"):
        plot_weight_histograms(np.linspace(0, 1, 20), weights, 0.0, 0.015, title="w")


# --- distance ----------------------------------------------------------------------


def test_distance_png_and_log_axis():
    times = np.linspace(0, 10, 50)
    distance = np.exp(-0.5 * times)[None, :] * np.array([[1.0], [0.8]])
    bound = 2.0 * np.exp(-0.5 * times)
    figure = distance_figure(times, distance, bound, title="d")
    assert figure.axes[0].get_yscale() == "log"
    assert plot_distance(times, distance, bound, title="d").startswith(PNG_SIGNATURE)
    assert any(t.startswith("0 of 2 seed(s) exceed") for t in _figure_texts(figure))


def test_distance_counts_seeds_above_bound():
    times = np.linspace(0, 10, 50)
    distance = np.vstack([np.exp(-0.5 * times), 3.0 * np.exp(-0.1 * times)])
    bound = 2.0 * np.exp(-0.5 * times)
    figure = distance_figure(times, distance, bound, title="d")
    assert any(t.startswith("1 of 2 seed(s) exceed") for t in _figure_texts(figure))


def test_distance_without_bound():
    times = np.linspace(0, 1, 5)
    distance = np.array([[1.0, 0.5, 0.0, 0.1, 0.05]])  # an exact zero is skipped
    figure = distance_figure(times, distance, None, title="d")
    assert not [t for t in _figure_texts(figure) if "exceed" in t]
    line = figure.axes[0].get_lines()[0]
    assert np.isnan(line.get_ydata()[2])


def test_distance_rejects_bad_input():
    times = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="cannot be negative"):
        plot_distance(times, -np.ones((1, 5)), None, title="d")
    with pytest.raises(ValueError, match=r"expected shape \(B, 5\)"):
        plot_distance(times, np.ones((1, 4)), None, title="d")
    with pytest.raises(ValueError, match=r"bound: expected shape \(5,\)"):
        plot_distance(times, np.ones((1, 5)), np.ones(4), title="d")


# --- decay rates -------------------------------------------------------------------


def test_decay_rates_log_axes_over_decades():
    figure = decay_rate_figure(
        [0.004, 0.04, 100.0], [0.0045, 0.039, 96.0], ["slow", "sum", "rate"]
    )
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    assert axes.get_ylim() == axes.get_xlim()
    assert [t.get_text() for t in axes.texts] == ["slow", "sum", "rate"]


def test_decay_rates_linear_with_negative_rate():
    figure = decay_rate_figure(
        [0.5, -0.1], [0.45, -0.12], ["a", "b"], measured_spread=[0.02, 0.01]
    )
    assert figure.axes[0].get_xscale() == "linear"
    png = plot_decay_rates([0.5, -0.1], [0.45, -0.12], ["a", "b"])
    assert png.startswith(PNG_SIGNATURE)


def test_decay_rates_reject_bad_input():
    with pytest.raises(ValueError, match="expected equal lengths, got 2, 1, 2"):
        plot_decay_rates([1.0, 2.0], [1.0], ["a", "b"])
    with pytest.raises(ValueError, match="non-negative"):
        plot_decay_rates([1.0], [1.0], ["a"], measured_spread=[-1.0])
    with pytest.raises(ValueError, match="non-finite"):
        plot_decay_rates([1.0], [float("nan")], ["a"])


# --- no global state -------------------------------------------------------------


def test_backend_unchanged():
    before = matplotlib.get_backend()
    plot_decay_rates([1.0], [1.1], ["a"])
    assert matplotlib.get_backend() == before


def test_no_pyplot_import():
    code = (
        "import sys, numpy as np\n"
        "from biosynapse_verify.report import plot_spectrum\n"
        "plot_spectrum(np.array([-1.0, 0.5]), title='t')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
