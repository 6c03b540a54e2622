"""A model to start with before any training: typical m and u for each level.

An index that has just been installed has no data to train on. These values
are typical of patient registries (and close to what EM finds on the FEBRL
data and on the synthetic population in ``benchmarks/``): m from how often a
true duplicate agrees at each level, u from how often two random people do.
``mpi train`` replaces them with estimates from the index itself.
"""

from __future__ import annotations

import numpy as np

from matching.model import Model
from matching.settings import MatchSettings, compile_settings

__all__ = ["DEFAULT_PARAMETERS", "default_model"]

# comparison -> {level label: (m, u)}; levels not named here get m=0.01, u=0.01.
DEFAULT_PARAMETERS: dict[str, dict[str, tuple[float, float]]] = {
    "given_name": {
        "exact": (0.80, 0.004),
        "nickname": (0.04, 0.001),
        "swapped": (0.01, 0.00001),
        "jw>=0.92": (0.06, 0.001),
        "phonetic": (0.01, 0.002),
        "jw>=0.8": (0.03, 0.005),
        "initial": (0.01, 0.0005),
        "else": (0.02, 0.987),
    },
    "family_name": {
        "exact": (0.82, 0.003),
        "shared part": (0.02, 0.0002),
        "jw>=0.92": (0.07, 0.001),
        "phonetic": (0.01, 0.001),
        "jw>=0.8": (0.02, 0.003),
        "else": (0.06, 0.99),
    },
    "middle_name": {"exact": (0.85, 0.02), "initial": (0.1, 0.05), "else": (0.05, 0.93)},
    "birth_date": {
        "exact": (0.92, 0.0001),
        "partial": (0.02, 0.001),
        "day/month swapped": (0.01, 0.00001),
        "one digit": (0.03, 0.001),
        "one part differs": (0.01, 0.003),
        "same year": (0.003, 0.01),
        "else": (0.007, 0.985),
    },
    "sex": {"exact": (0.98, 0.5), "else": (0.02, 0.5)},
    "street": {
        "exact": (0.6, 0.0002),
        "jw>=0.9": (0.2, 0.0005),
        "jw>=0.75": (0.05, 0.02),
        "else": (0.15, 0.98),
    },
    "city": {"exact": (0.8, 0.01), "jw>=0.88": (0.1, 0.002), "else": (0.1, 0.988)},
    "postcode": {
        "exact": (0.8, 0.002),
        "one edit": (0.05, 0.01),
        "same area": (0.05, 0.02),
        "else": (0.1, 0.968),
    },
    "phone": {
        "exact": (0.6, 0.00001),
        "last 6 digits": (0.05, 0.00001),
        "one edit": (0.05, 0.00001),
        "else": (0.3, 0.99997),
    },
    "national_id": {
        "exact": (0.97, 0.000001),
        "one typo": (0.02, 0.00001),
        "else": (0.01, 0.999989),
    },
    "email": {"exact": (0.7, 0.000001), "same local part": (0.1, 0.00001), "else": (0.2, 0.999989)},
    "mother_maiden_name": {
        "exact": (0.85, 0.003),
        "jw>=0.88": (0.08, 0.002),
        "else": (0.07, 0.995),
    },
}


def default_model(settings: MatchSettings | None = None, prior: float = 1e-6) -> Model:
    """The untrained starting model.

    Args:
        settings: compiled settings (the defaults if ``None``).
        prior: probability that two records in the index are a match; about
            one over the number of persons expected.
    """
    settings = settings or compile_settings()
    m_list, u_list = [], []
    for spec in settings.comparisons:
        known = DEFAULT_PARAMETERS.get(spec.name, {})
        m = np.array([1.0] + [known.get(label, (0.01, 0.01))[0] for label in spec.labels[1:]])
        u = np.array([1.0] + [known.get(label, (0.01, 0.01))[1] for label in spec.labels[1:]])
        for k in spec.neutral_levels():
            m[k] = u[k] = 1.0
        m_list.append(m)
        u_list.append(u)
    return Model(settings, tuple(m_list), tuple(u_list), prior, trained_on={"default": True})
