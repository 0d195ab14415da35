"""Diagnostics: activation statistics and update ratios against hand computations."""
import numpy as np
import pytest

from gradkit import diagnostics as dg


def test_tanh_stats(rng):
    a = np.tanh(rng.standard_normal((200, 50)) * 3)
    st = dg.activation_stats(a, "tanh", saturation=0.97, bins=20)
    assert st["mean"] == pytest.approx(a.mean(), rel=1e-12, abs=1e-15)
    assert st["std"] == pytest.approx(a.std(), rel=1e-12)
    assert st["saturated_fraction"] == np.mean(np.abs(a) > 0.97)
    assert st["dead_fraction"] == 0.0
    counts, edges = st["histogram"]
    assert counts.sum() == a.size and len(edges) == 21 and edges[0] == -1 and edges[-1] == 1


def test_sigmoid_and_relu_stats(rng):
    x = rng.standard_normal(1000) * 4
    s = 1 / (1 + np.exp(-x))
    st = dg.activation_stats(s.astype(np.float32), "sigmoid", saturation=0.9)
    assert st["saturated_fraction"] == np.mean((s.astype(np.float32) < np.float32(1 - 0.9))
                                               | (s.astype(np.float32) > 0.9))
    r = np.maximum(x, 0)
    st = dg.activation_stats(r, "relu")
    assert st["dead_fraction"] == np.mean(r <= 0) and st["saturated_fraction"] == 0.0
    assert st["histogram"][1][-1] == r.max()


def test_empty_activations():
    st = dg.activation_stats(np.zeros(0), "tanh")
    assert np.isnan(st["mean"]) and st["saturated_fraction"] == 0.0
    assert st["histogram"][0].sum() == 0


def test_update_ratio(rng):
    w = [rng.standard_normal((10, 5)), rng.standard_normal(5).astype(np.float32)]
    u = [1e-3 * rng.standard_normal((10, 5)), 1e-2 * np.ones(5, np.float32)]
    r = dg.update_ratio(w, u)
    assert r[0] == pytest.approx(np.linalg.norm(u[0]) / np.linalg.norm(w[0]), rel=1e-12)
    assert r[1] == pytest.approx(np.linalg.norm(u[1].astype(np.float64))
                                 / np.linalg.norm(w[1].astype(np.float64)), rel=1e-12)
    lg = dg.update_ratio(w, u, log10=True)
    assert lg == pytest.approx(np.log10(r).tolist())
    assert dg.update_ratio(w[0], u[0]) == r[:1]
    assert dg.update_ratio([np.zeros(3)], [np.ones(3)]) == [np.inf]


def test_bad_input(rng):
    a = rng.standard_normal(10)
    with pytest.raises(ValueError, match="nonlinearity"):
        dg.activation_stats(a, "gelu")
    with pytest.raises(ValueError, match="saturation"):
        dg.activation_stats(a, saturation=1.0)
    with pytest.raises(ValueError, match="bins"):
        dg.activation_stats(a, bins=0)
    with pytest.raises(TypeError, match="a must be"):
        dg.activation_stats(np.arange(3))
    with pytest.raises(ValueError, match="same length"):
        dg.update_ratio([a], [a, a])
    with pytest.raises(ValueError, match="updates\\[0\\]"):
        dg.update_ratio([a], [a[:3]])
