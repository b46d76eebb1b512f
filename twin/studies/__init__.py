"""Planning studies: capacity, battery sizing, growth, N-1 contingency, scenario sweeps and their
reports.
"""

from collections.abc import Callable

StudyProgress = Callable[[str, int, int], None]
"""Progress callback of a long study: (what was just done, steps done, steps in all or an upper
bound) [-]; the CLI draws a progress bar from it."""
