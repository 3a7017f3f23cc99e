"""The user's classifier training tool: labeled crops, grouped split, augmentation, embedding cache, heads on
frozen embeddings or fine-tuning, metrics, report and export. `python -m models.train_classifier` runs it."""
