"""Scoring the models on labeled images, without Beam: ground truth (a models.synth truth.jsonl or a COCO
instances.json: truth.py, coco.py), matching and scores (metrics.py), and the evaluator of the three
slots (evaluate.py, `python -m models.evaluation`). pipeline.evaluate scores a whole scan with the same
truth and metrics."""
