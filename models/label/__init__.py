"""The labeling page: `python -m models.label crops.jsonl` serves crops to label on 127.0.0.1."""
