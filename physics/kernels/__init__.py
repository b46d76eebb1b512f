"""Compiled (Numba) kernels for the hot loops of the physics models.

Each kernel is a plain-loop transcription of a vectorized model in :mod:`physics`, compiled
once per machine (Numba's on-disk cache) and called by that model; the model keeps its
validation, broadcasting and result types.
"""
