"""Training and export of the bundled default models (models/default/). `python -m models.build` runs it."""
