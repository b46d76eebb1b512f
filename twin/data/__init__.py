"""Exogenous time series: loaders for public formats, validation, resampling, CSV, the demo
generator and a scenario's series on its time axis.
"""
