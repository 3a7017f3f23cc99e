"""SlotModelHandler's batching: full batches from the first one on."""
from models.handler import SlotModelHandler


def test_batches_are_full_from_the_start():
    kwargs = SlotModelHandler("classifier", "/nowhere", batch_size=32).batch_elements_kwargs()
    assert kwargs["min_batch_size"] == kwargs["max_batch_size"] == 32
