"""EM recovers planted m, u and match share from simulated comparison vectors."""

import numpy as np

from matching.em import count_patterns, expectation_maximisation


def _simulate(
    rng: np.random.Generator, n: int, share: float, m: list[np.ndarray], u: list[np.ndarray]
) -> np.ndarray:
    is_match = rng.random(n) < share
    gamma = np.empty((n, len(m)), dtype=np.int8)
    for k, (mk, uk) in enumerate(zip(m, u, strict=True)):
        gamma[:, k] = np.where(
            is_match, rng.choice(len(mk), size=n, p=mk), rng.choice(len(uk), size=n, p=uk)
        )
    return gamma


def test_em_recovers_planted_parameters() -> None:
    rng = np.random.default_rng(42)
    # Level 0 is "null" (never drawn here), then best..worst.
    m = [
        np.array([0, 0.85, 0.1, 0.05]),
        np.array([0, 0.9, 0.1]),
        np.array([0, 0.7, 0.2, 0.1]),
        np.array([0, 0.95, 0.05]),
        np.array([0, 0.8, 0.15, 0.05]),
    ]
    u = [
        np.array([0, 0.01, 0.04, 0.95]),
        np.array([0, 0.05, 0.95]),
        np.array([0, 0.02, 0.08, 0.9]),
        np.array([0, 0.5, 0.5]),
        np.array([0, 0.03, 0.07, 0.9]),
    ]
    gamma = _simulate(rng, 200_000, 0.2, m, u)
    patterns, counts = count_patterns(gamma)
    assert counts.sum() == len(gamma)
    sizes = [len(x) for x in m]
    start_m = [np.array([1.0] + [1.0 / (s - 1)] * (s - 1)) for s in sizes]
    start_u = [np.array([1.0] + [1.0 / (s - 1)] * (s - 1)) for s in sizes]
    for sm in start_m:
        sm[1] = 0.6
    result = expectation_maximisation(
        patterns, counts, sizes, [(0,)] * len(sizes), start_m, start_u, 0.5
    )
    assert result.converged
    assert abs(result.match_share - 0.2) < 0.01
    for est, true in zip(result.m, m, strict=True):
        np.testing.assert_allclose(est[1:], true[1:], atol=0.02)
    for est, true in zip(result.u, u, strict=True):
        np.testing.assert_allclose(est[1:], true[1:], atol=0.02)


def test_fixed_u_stays_fixed() -> None:
    rng = np.random.default_rng(1)
    m = [np.array([0, 0.9, 0.1]), np.array([0, 0.8, 0.2])]
    u = [np.array([0, 0.1, 0.9]), np.array([0, 0.2, 0.8])]
    gamma = _simulate(rng, 20_000, 0.3, m, u)
    patterns, counts = count_patterns(gamma)
    start_u = [np.array([1.0, 0.1, 0.9]), np.array([1.0, 0.2, 0.8])]
    result = expectation_maximisation(
        patterns,
        counts,
        [3, 3],
        [(0,), (0,)],
        [np.array([1.0, 0.5, 0.5])] * 2,
        start_u,
        0.5,
        fix_u=True,
    )
    for est, start in zip(result.u, start_u, strict=True):
        np.testing.assert_array_equal(est, start)
    assert abs(result.match_share - 0.3) < 0.03
