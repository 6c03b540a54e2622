"""The Fellegi-Sunter model: m and u per comparison level, the prior, term frequencies.

A :class:`Model` is the trained state that scoring needs, and nothing else. It
saves to a readable JSON file (settings included, so a saved model is all a
scorer needs) and loads from one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.errors import ModelFileError
from matching.settings import MatchSettings, compile_settings

__all__ = ["FORMAT_VERSION", "Model", "probability", "weight_of"]

FORMAT_VERSION = 1
_FLOOR = 1e-6  # no level is impossible: keeps weights finite


def probability(match_weight: float | npt.NDArray[np.float64]) -> Any:
    """Match probability from a match weight (log2 odds)."""
    return 1.0 / (1.0 + np.exp2(-np.asarray(match_weight, dtype=np.float64)))


def weight_of(prob: float) -> float:
    """Match weight (log2 odds) of a match probability."""
    prob = min(max(prob, 1e-300), 1 - 1e-16)
    return math.log2(prob / (1 - prob))


@dataclass(frozen=True)
class Model:
    """A trained Fellegi-Sunter model.

    Attributes:
        settings: the compiled settings the parameters belong to.
        m: per comparison, P(level | match) for each level (``null`` entry unused).
        u: per comparison, P(level | non-match) for each level.
        prior: probability that two records drawn at random are a match.
        tf: per comparison with term frequencies, value → relative frequency.
        tf_default: per comparison, the frequency assumed for an unseen value.
        trained_on: free-form notes on how the model was trained.
    """

    settings: MatchSettings
    m: tuple[npt.NDArray[np.float64], ...]
    u: tuple[npt.NDArray[np.float64], ...]
    prior: float
    tf: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    tf_default: Mapping[str, float] = field(default_factory=dict)
    trained_on: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        """log2 of the prior odds."""
        return weight_of(self.prior)

    def weights(self) -> tuple[npt.NDArray[np.float64], ...]:
        """Per comparison, the weight log2(m/u) of each level; 0 for null and neutral levels.

        Computed once per model (the real-time path asks for every pair it scores).
        """
        cached = self.__dict__.get("_weights")
        if cached is None:
            cached = self._compute_weights()
            for w in cached:
                w.setflags(write=False)  # shared by every caller: read-only
            # Frozen: store past __setattr__, as functools.cached_property does.
            self.__dict__["_weights"] = cached
        return cached

    def _compute_weights(self) -> tuple[npt.NDArray[np.float64], ...]:
        out = []
        for comparison, m, u in zip(self.settings.comparisons, self.m, self.u, strict=True):
            w = np.log2(np.maximum(m, _FLOOR) / np.maximum(u, _FLOOR))
            w[list(comparison.neutral_levels())] = 0.0
            out.append(w)
        return tuple(out)

    def tf_adjustment(self, comparison: int, value: str | None) -> float:
        """Extra weight for agreeing exactly on ``value``: rare values count for more.

        The exact level's u is replaced by the value's frequency, as in Splink:
        log2(u_exact / tf(value)), capped at ± ``tf_adjustment_cap`` bits.
        """
        spec = self.settings.comparisons[comparison]
        if spec.tf_column is None or value is None:
            return 0.0
        table = self.tf.get(spec.name)
        if not table:
            return 0.0
        freq = table.get(value, self.tf_default.get(spec.name, 0.0))
        if freq <= 0:
            return 0.0
        cap = self.settings.tf_adjustment_cap
        adj = math.log2(max(float(self.u[comparison][1]), _FLOOR) / freq)
        return float(min(max(adj, -cap), cap))

    def to_dict(self) -> dict[str, Any]:
        """The model as plain data (what :meth:`save` writes)."""
        comparisons = []
        for spec, m, u in zip(self.settings.comparisons, self.m, self.u, strict=True):
            levels = [
                {"label": label, "m": float(m[k]), "u": float(u[k])}
                for k, label in enumerate(spec.labels)
                if k != 0
            ]
            comparisons.append({"name": spec.name, "levels": levels})
        return {
            "format": "mpi-engine fellegi-sunter model",
            "version": FORMAT_VERSION,
            "prior": self.prior,
            "parameters": comparisons,
            "term_frequencies": {k: dict(v) for k, v in self.tf.items()},
            "term_frequency_default": dict(self.tf_default),
            "trained_on": dict(self.trained_on),
            "settings": self.settings.raw,
        }

    def save(self, path: Path) -> None:
        """Write the model as indented JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False), "utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Rebuild a model from :meth:`to_dict` output.

        Raises:
            ModelFileError: the data is not a model of this version, or its
                parameters do not fit its settings.
        """
        if data.get("version") != FORMAT_VERSION:
            raise ModelFileError(
                f"version: {data.get('version')!r} must be {FORMAT_VERSION} (not a model file?)"
            )
        settings = compile_settings(data["settings"])
        params = {p["name"]: p["levels"] for p in data["parameters"]}
        m_list, u_list = [], []
        for spec in settings.comparisons:
            levels = params.get(spec.name)
            if levels is None or [lv["label"] for lv in levels] != list(spec.labels[1:]):
                raise ModelFileError(f"parameters.{spec.name}: levels do not match the settings")
            m_list.append(np.array([1.0] + [lv["m"] for lv in levels]))
            u_list.append(np.array([1.0] + [lv["u"] for lv in levels]))
        return cls(
            settings=settings,
            m=tuple(m_list),
            u=tuple(u_list),
            prior=float(data["prior"]),
            tf={k: dict(v) for k, v in data.get("term_frequencies", {}).items()},
            tf_default=dict(data.get("term_frequency_default", {})),
            trained_on=dict(data.get("trained_on", {})),
        )

    @classmethod
    def load(cls, path: Path) -> Model:
        """Read a model saved by :meth:`save`.

        Raises:
            ModelFileError: the file is missing, not JSON, or not a model.
        """
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise ModelFileError(f"{path}: cannot read a model ({e})") from e
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as e:
            raise ModelFileError(f"{path}: missing or malformed part {e}") from e
