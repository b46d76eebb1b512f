"""The Dash web UI: thin callbacks over ``twin`` functions.

Layer rule: imports ``twin`` (and dash/plotly); the top layer.
"""
