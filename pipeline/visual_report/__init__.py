"""The visual scan report (`python -m pipeline.report OUTPUT --scan_id X`): one self-contained HTML file."""
