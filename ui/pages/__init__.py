"""The pages of the web UI, one module each: its layout and the callbacks it wires.

Every page module has ``layout(context)`` (the page's components, drawn with the data it
shows first where that saves a round trip) and ``register(app, context)`` (its callbacks,
whose bodies are in :mod:`ui.callbacks`).  :mod:`ui.app` routes between them.
"""
