"""One Beam ModelHandler for every model slot, built on the slot contract (models.slots)."""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult
from apache_beam.utils.shared import Shared

from models.slots import LoadedModel, ManyInputsTask, ModelTask, run_tasks, task_inputs

_LOG = logging.getLogger(__name__)


def enable_gpu_memory_growth() -> None:
    """Let several models share one GPU: TF otherwise grabs all its memory on first use."""
    from models.tf_import import import_tensorflow

    tf = import_tensorflow()  # the first import in a worker process: quiet unless asked otherwise

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was initialised already; growth is then fixed
            _LOG.debug("memory growth already fixed for %s", gpu.name)


class SlotModelHandler(ModelHandler[ModelTask, PredictionResult, Any]):
    """Loads the model in `slot` from `uri` (local dir, gs://, TF Hub) once per worker process.

    Args:
      slot: "detector", "classifier" or "segmenter".
      uri: where the model lives; see models.slots.load_model.
      overrides: metadata that wins over the model's own shelfscan.json (threshold, class_filter...).
      batch_size: inputs per model call, and the tasks RunInference batches together (full batches from
        the first; only a bundle's last is short); a task with several inputs (ManyInputsTask) adds them
        all, so a batch of tasks fills whole model calls. 1 for models taking any input size.
      large_model: load one copy per machine, shared across SDK processes (one GPU, many processes).
      model_copies: exact number of shared copies per machine (implies sharing across processes).
      version: the content version the launcher read (ModelMeta.version); a worker that finds other
        content at `uri` refuses to run it, so every row's *_version names the model that made it.
      trust_model_code: load a model whose graph runs file or network ops (models.model_ops).
      loaded: the model the launcher already loaded from this slot, uri and overrides (it must have
        `version`). RunInference in the launcher's own process (DirectRunner in memory or threads) runs it
        instead of loading it again; a worker in another process (Dataflow, multi_processing) loads its own.
    """

    def __init__(
        self,
        slot: str,
        uri: str,
        overrides: Mapping[str, Any] | None = None,
        batch_size: int = 8,
        large_model: bool = False,
        model_copies: int | None = None,
        version: str | None = None,
        trust_model_code: bool = False,
        loaded: LoadedModel | None = None,
    ):
        super().__init__(
            # Full batches: BatchElements would otherwise start at 1 and grow by timing, so a bundle's
            # first batches run the model at a fraction of its throughput. A bundle's last batch may be short.
            min_batch_size=batch_size,
            max_batch_size=batch_size,
            large_model=large_model,
            model_copies=model_copies,
        )
        self.slot = slot
        self.uri = uri
        self.batch_size = batch_size
        self.overrides = dict(overrides or {})
        self.version = version
        self.trust_model_code = trust_model_code
        # Beam's Shared pickles as its key alone: a copy of this handler unpickled in the launcher's process
        # finds the launcher's model under that key, one in any other process finds nothing and loads.
        self._launched = Shared()
        if loaded is not None:
            if version is not None and loaded.meta.version != version:
                raise ValueError(f"the {slot} model handed over is {loaded.meta.version}, not the pinned {version}")
            self._launched.acquire(lambda: loaded, tag=version)
            self._keep = loaded  # the map holds models weakly; dropped when pickled, see __getstate__

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_keep"}

    def load_model(self):
        return self._launched.acquire(self._load, tag=self.version)

    def _load(self):
        from models import slots

        enable_gpu_memory_growth()
        model = slots.load_model(self.slot, self.uri, trust_model_code=self.trust_model_code, **self.overrides)
        if self.version is not None and model.meta.version != self.version:
            raise slots.ModelLoadError(
                self.slot, self.uri,
                f"its content changed after the scan started (pinned {self.version}, now "
                f"{model.meta.version}); rows would name the wrong model, so the scan stops: re-run it, "
                "and replace models under a new path rather than in place")
        return model

    def run_inference(
        self,
        batch: Sequence[ModelTask | ManyInputsTask],
        model,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        call_sizes = Metrics.distribution(self.get_metrics_namespace(), "inputs_per_model_call")

        def counted(inputs: np.ndarray) -> dict[str, np.ndarray]:
            call_sizes.update(len(inputs))  # full calls are what keeps an accelerator busy
            return model(inputs)

        return [PredictionResult(task, out) for task, out in zip(batch, run_tasks(counted, batch, self.batch_size))]

    def get_num_bytes(self, batch: Sequence[ModelTask | ManyInputsTask]) -> int:
        return sum(x.nbytes for task in batch for x in task_inputs(task))

    def get_metrics_namespace(self) -> str:
        return f"shelfscan_{self.slot}"
