"""Scoring: one interface for every kind of model (neural, n-gram, Hugging Face), batching and tries, suites.

The string-level entry points: ``load_scorer(reference)`` opens any model reference (a training folder, a
baseline folder, ``hf:NAME``, or a kind a user registered) and ``score_continuations(scorer, contexts,
continuations)`` scores lists of words, as minicons does.
"""
from probe.scoring.base import score_continuations
from probe.scoring.registry import load_scorer

__all__ = ["load_scorer", "score_continuations"]
