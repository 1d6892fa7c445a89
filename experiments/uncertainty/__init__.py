"""Uncertainty for learned reconstructions, with numbers that mean what they say.

- `calibration`: per-pixel intervals ``x̂ ± λu`` from any heuristic ``u``, λ calibrated on held-out items so that
  the fraction of pixels whose truth falls outside is at most α with probability 1 − δ (risk-controlling
  prediction sets, Angelopoulos et al., ICML 2022), or at most α in expectation (conformal risk control).
- `measures`: how well ``u`` ranks the errors (Spearman's ρ, AUSE) and flags failing or shifted items (AUROC).
- `methods`: the heuristics of a trained job: a deep ensemble, Monte Carlo dropout, the data residual.

``python -m experiments uncertainty JOB`` (`experiments.commands.uncertainty`) puts them side by side.
"""

from experiments.uncertainty import calibration, measures, methods

__all__ = ["calibration", "measures", "methods"]
