"""Shared fixtures. Cloud stand-ins (GCS, BigQuery emulators) live in their own modules."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of test output

import pytest  # noqa: E402

pytest_plugins = ["tests.gcs_emulator", "tests.bq_emulator", "tests.browser"]


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory):
    """Colour-driven tiny SavedModels (see tests/toy_models.py): slot -> directory."""
    from tests.toy_models import build_toy_models

    return build_toy_models(tmp_path_factory.mktemp("toy_models"))


@pytest.fixture(scope="session")
def colour_box_detector(tmp_path_factory):
    """A detector of any input size that boxes the red and the green pixels it sees (tests/toy_models.py)."""
    from tests.toy_models import build_colour_box_detector

    return build_colour_box_detector(tmp_path_factory.mktemp("toy_models") / "colour_boxes")


@pytest.fixture(scope="session")
def product_classifier(tmp_path_factory):
    """A classifier of three products, red, green and blue, by the crop's brightest channel (tests/toy_models.py)."""
    from tests.toy_models import build_product_classifier

    return build_product_classifier(tmp_path_factory.mktemp("toy_models") / "products")
