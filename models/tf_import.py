"""Import TensorFlow so that TF_CPP_MIN_LOG_LEVEL holds for its import-time lines too.

TensorFlow prints "oneDNN custom operations are on" and "Could not find cuda drivers" from C++
before absl's logging is set up, so no log level reaches them. Both are INFO lines: when
TF_CPP_MIN_LOG_LEVEL hides INFO (pipeline.run sets 3 unless --verbose, and worker processes inherit
it; a user's own 1 or 2 counts too), the import runs with native stderr captured; what was captured
is shown if the import fails.
"""
from __future__ import annotations

import os
import sys
import tempfile


def _min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL") or 0)
    except ValueError:
        return 0


def import_tensorflow():
    """`import tensorflow`, quietly where TF_CPP_MIN_LOG_LEVEL >= 1; returns the module."""
    if "tensorflow" in sys.modules or _min_log_level() < 1:
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow
