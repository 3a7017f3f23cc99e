"""Synthetic shelf scenes with exact truth: the bottle designs, the scene generator, the truth reader and
the scenes as arrays for training and evaluation. `python -m models.synth` writes them."""
