"""The electrical chain of a simulation: IT load → converters → busbars → shelves → UPS.

:func:`electrical_chain` (in :mod:`physics.electrical.chain`) evaluates one chunk of steps
for :func:`physics.simulate.simulate`; :class:`Topology` holds the index structures it uses.
"""

from physics.electrical.chain import Electrical, Topology, electrical_chain

__all__ = ["Electrical", "Topology", "electrical_chain"]
