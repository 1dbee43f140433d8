import numpy as np
import pytest

from watermark import stats


def test_max_of_normals_matches_simulation():
    rng = np.random.default_rng(3)
    maxima = rng.standard_normal((20000, 50)).max(axis=1)
    for z in (2.0, 2.5, 3.0):
        assert stats.max_of_normals_p_value(z, 50) == pytest.approx(np.mean(maxima >= z), abs=0.01)


def test_tail_is_accurate_far_out():
    assert stats.normal_tail(10.0) == pytest.approx(7.6198530241605e-24, rel=1e-6)
    assert stats.max_of_normals_p_value(10.0, 10**6) == pytest.approx(7.6198530241605e-18, rel=1e-5)


def test_checksum_p_value_is_a_valid_p_value():
    # Under the null, U ~ uniform and the checksum holds with probability q independently.
    rng = np.random.default_rng(4)
    bits = 4                                    # q = 1/16 so that the simulation sees it hold
    u = rng.random(200000)
    holds = rng.random(200000) < 2.0**-bits
    p = np.array([stats.with_checksum(a, b, bits) for a, b in zip(u, holds)])
    for level in (0.001, 0.01, 0.1, 0.5):
        assert np.mean(p <= level) == pytest.approx(level, rel=0.15, abs=2e-4)


def test_checksum_sharpens_only_when_it_holds():
    assert stats.with_checksum(1e-6, True, 16) < 1e-10
    assert stats.with_checksum(1e-6, False, 16) >= 1e-6


def test_refined_search_p_value_is_valid_under_its_procedure():
    # A search over 50 normals; when its best reaches 2, ten more looks are taken and the best of
    # all is reported. The p-value of the reported statistic must not undercount.
    rng = np.random.default_rng(6)
    search = rng.standard_normal((40000, 50)).max(axis=1)
    looks = rng.standard_normal((40000, 10)).max(axis=1)
    reported = np.where(search >= 2.0, np.maximum(search, looks), search)
    p = np.array([stats.refined_search_p_value(z, 50, refine_from=2.0, refinements=10) for z in reported])
    for level in (0.01, 0.05, 0.2, 0.5):
        assert np.mean(p <= level) <= level * 1.05 + 1e-3


def test_refined_search_p_value_is_the_search_alone_below_the_threshold():
    def refined(z):
        return stats.refined_search_p_value(z, 50, refine_from=2.0, refinements=10)

    assert refined(1.5) == stats.max_of_normals_p_value(1.5, 50)
    assert refined(5.0) > stats.max_of_normals_p_value(5.0, 50)
