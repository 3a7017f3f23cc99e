"""The frozen ImageNet backbone every model builds on: EfficientNet-Lite0 and the reader of its weights."""
