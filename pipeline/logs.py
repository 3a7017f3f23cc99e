"""How much a local run says: our warnings and the closing table always; TensorFlow's and Beam's
start-up chatter (oneDNN notes, CUDA probing on a machine without a GPU, Beam's runner warnings) only
with --verbose."""
from __future__ import annotations

import logging
import os
import warnings

OURS = ("pipeline", "transforms", "models")


def configure(verbose: bool) -> None:
    """Call before TensorFlow is imported: its C++ logging reads the environment once, at import."""
    configure_logging(verbose)
    if not verbose:
        from models.tf_import import import_tensorflow

        import_tensorflow()


def configure_logging(verbose: bool) -> None:
    """configure() without importing TensorFlow: what the checks before it (pipeline.validate) need."""
    fmt = "%(levelname)s %(name)s: %(message)s"
    if verbose:
        logging.basicConfig(level=logging.INFO, format=fmt)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ INFO/WARNING/ERROR, incl. "failed call to cuInit"
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    logging.basicConfig(level=logging.ERROR, format=fmt)  # Beam logs its warnings on the root logger
    for name in OURS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("absl", "tensorflow", "apache_beam"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # tensorflow_hub's import warns; PYTHONWARNINGS carries the filter into worker processes too
    os.environ.setdefault("PYTHONWARNINGS", "ignore:pkg_resources is deprecated:UserWarning")
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

