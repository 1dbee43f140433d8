"""eval.plots: what each figure draws, read from the figure (test_eval_report.py has the report's use of them)."""

from __future__ import annotations

import pytest
from benchrows import result_row as _row

from eval import plots


@pytest.fixture
def drawn(monkeypatch):
    figures = []
    monkeypatch.setattr(plots, "_png", lambda figure: figures.append(figure) or b"")
    return figures


def test_an_attack_series_is_named_by_its_other_parameters_and_its_strength_by_the_first_that_matches():
    assert plots.attack_series("rotate(degrees=5, crop=True)", 5.0) == ("rotate(crop=True)", "degrees")
    assert plots.attack_series("copy_mark(gain=1.0, residual=1.0)", 1.0) == ("copy_mark(residual=1.0)", "gain")


def test_strength_curves_plot_each_attack_against_its_parameter_and_only_those_that_vary(drawn):
    rows = [_row(image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q), exact=q == 90)
            for image in ("a", "b") for q in (50, 90)]
    rows += [_row(attack="median(size=3)", family="filter", strength=3.0)]            # one strength: no curve
    plots.strength_curves(rows, "exact")
    (ax,) = [ax for ax in drawn[0].axes if ax.get_visible() and ax.get_title()]
    (line,) = ax.get_lines()
    assert ax.get_title() == "jpeg" and ax.get_xlabel() == "quality"
    assert list(line.get_xdata()) == [50.0, 90.0] and list(line.get_ydata()) == [0.0, 100.0]
    assert plots.strength_curves(rows[-1:], "exact") is None


def test_the_images_per_point_say_their_range_where_they_vary(drawn):
    rows = [_row(image=image, attack=f"jpeg(quality={q})", family="codec", strength=float(q))
            for image in ("a", "b", "c") for q in (50, 90)]
    rows += [_row(image="d", attack="jpeg(quality=50)", family="codec", strength=50.0)]
    plots.strength_curves(rows, "exact")
    assert drawn[0].get_suptitle() == "n = 3-4 images per point (a failed cell counts as lost)"


def test_the_p_value_histogram_holds_the_unmarked_images_in_twenty_bins_against_the_uniform_count(drawn):
    null = [_row(image=f"n{i}", marked=False, p_value=(i + 0.5) / 40) for i in range(40)]
    plots.pvalue_histogram(null + [_row(p_value=1e-12)] * 5)
    ax = drawn[0].axes[0]
    assert ax.get_title() == "s (n=40)"
    bars = ax.patches
    assert len(bars) == 20 and [bar.get_height() for bar in bars] == [2.0] * 20
    assert bars[0].get_x() == pytest.approx(0.0) and bars[-1].get_x() + bars[-1].get_width() == pytest.approx(1.0)
    (uniform,) = [line for line in ax.get_lines() if line.get_label() == "uniform"]
    assert list(uniform.get_ydata()) == [2.0, 2.0]


def test_the_trade_off_puts_less_visible_to_the_right_in_both_panels(drawn):
    rows = [_row(scheme=scheme, ssimulacra2=s2, butteraugli=ba) for scheme, s2, ba in
            (("lattice@0.5", 95.0, 0.6), ("lattice", 91.0, 1.1))]
    plots.tradeoff(rows)
    first, second = drawn[0].axes[:2]
    assert not first.xaxis_inverted() and second.xaxis_inverted()
