"""The running twin: scenarios, time series, CLI; later the live link, planning studies and API."""
