"""Pure, vectorized physical models of an AI data center.

Layer rule: this package imports only numpy, scipy and xarray (never ``optimizer``, ``twin``
or ``ui``).  Inside, quantities are SI with engineering conventions: power [W], energy [J],
temperature [°C], volume flow [m³/s], pressure [Pa], time [s].
"""
