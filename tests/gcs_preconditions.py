"""gcp-storage-emulator with Cloud Storage's generation preconditions, which the emulator ignores.

Run as the emulator's own command line (`python tests/gcs_preconditions.py start ...`). Real GCS
refuses an upload or a delete whose `ifGenerationMatch` does not name the object's current generation
(0: there must be no object) with 412; the commit log's lease and records rely on exactly that, so the
stand-in must do it too. The emulator serves one request at a time, so check-then-act here is atomic.
"""
from __future__ import annotations

import sys
from http import HTTPStatus

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects


def _object_name(request) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    if "object_id" in request.params:
        return request.params["object_id"]
    data = request.data
    return data["meta"].get("name") if isinstance(data, dict) and "meta" in data else None


def _precondition_holds(request, storage) -> bool:
    wanted = request.query.get("ifGenerationMatch")
    if not wanted:
        return True
    try:
        current = str(storage.get_file_obj(request.params["bucket_name"], _object_name(request))["generation"])
    except NotFound:
        current = "0"
    return current == wanted[0]


def _guarded(handler):
    def guarded(request, response, storage, *args, **kwargs):
        if not _precondition_holds(request, storage):
            response.status = HTTPStatus.PRECONDITION_FAILED
            response.json({"error": {"code": 412, "message": "conditionNotMet",
                                     "errors": [{"reason": "conditionNotMet", "message": "conditionNotMet"}]}})
            return None
        return handler(request, response, storage, *args, **kwargs)
    return guarded


if __name__ == "__main__":
    objects.insert = _guarded(objects.insert)  # before the server builds its routes from these names
    objects.delete = _guarded(objects.delete)
    from gcp_storage_emulator.__main__ import main

    main(sys.argv[1:])
