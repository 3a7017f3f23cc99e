"""ONNX models in any slot: ONNX Runtime sessions (runtime.py) and the detector output layouts (layouts.py)."""
