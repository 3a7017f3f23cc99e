"""Test-only: point Beam's BigQuery client at the emulator in every process, workers included.

Beam's apitools client hard-codes `BigqueryV2.BASE_URL` and has no endpoint option. tests/bq_emulator.py
puts this directory on PYTHONPATH and sets BIGQUERY_EMULATOR_HOST (which google-cloud-bigquery honours
by itself), so every Python process the tests start, Beam's worker processes too, runs this at
start-up. It patches BASE_URL when Beam's client module is first imported, so processes that never
touch BigQuery pay nothing (no Beam import here).
"""
import importlib.abc
import importlib.machinery
import os
import sys

_MODULE = "apache_beam.io.gcp.internal.clients.bigquery.bigquery_v2_client"


class _PatchBaseUrl(importlib.abc.MetaPathFinder):
    def __init__(self, base_url: str):
        self._base_url = base_url

    def find_spec(self, name, path, target=None):
        if name != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module, base_url = spec.loader.exec_module, self._base_url

        def patched(module):
            exec_module(module)
            module.BigqueryV2.BASE_URL = base_url

        spec.loader.exec_module = patched
        return spec


def install(host: str) -> None:
    base_url = host.rstrip("/") + "/bigquery/v2/"
    module = sys.modules.get(_MODULE)
    if module is not None:
        module.BigqueryV2.BASE_URL = base_url
    else:
        sys.meta_path.insert(0, _PatchBaseUrl(base_url))


if os.environ.get("BIGQUERY_EMULATOR_HOST"):
    install(os.environ["BIGQUERY_EMULATOR_HOST"])
