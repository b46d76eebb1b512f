"""A facility and its study as a validated scenario: schema, units, checks, readable errors, the
compile step to :class:`physics.facility.Facility`, measurement points and synthetic halls.
"""
