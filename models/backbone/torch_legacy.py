"""Read a legacy-format (pre-1.6, non-zip) torch state dict into numpy arrays, without torch.

The legacy format is five pickles in a row (magic number, protocol version, system info, the
object graph, the list of storage keys), then each storage's raw bytes, prefixed by its element
count. Tensors in the object graph are persistent ids that point into those storages, with an
offset, a shape and strides. Unpickling needs no torch classes: we resolve the few globals the
graph names to small stand-ins.

A pickle is a program (its globals are called as it loads), so all five go through `_Unpickler`, which
knows only those stand-ins and OrderedDict and refuses any other global; the tensor views are checked
against their storage before any byte is read through them.
"""
from __future__ import annotations

import collections
import pickle
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class TorchFormatError(ValueError):
    """The file is not a legacy torch pickle this reader understands."""


class _StorageType:
    def __init__(self, name: str):
        if name not in _STORAGE_DTYPES:
            raise TorchFormatError(f"unsupported torch storage type {name}")
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TensorRef:
    """A tensor not yet materialized: which storage, where in it, and its layout."""

    def __init__(self, key: str, offset: int, shape: tuple[int, ...], strides: tuple[int, ...]):
        self.key, self.offset, self.shape, self.strides = key, offset, shape, strides


def _rebuild_tensor_v2(storage, offset, shape, strides, requires_grad=False, hooks=None, *rest):
    return _TensorRef(storage, int(offset), tuple(shape), tuple(strides))


class _Unpickler(pickle.Unpickler):
    """The only unpickler this reader uses; the globals it resolves call nothing outside this module."""

    def __init__(self, stream: BinaryIO):
        super().__init__(stream)
        self.storages: dict[str, tuple[np.dtype, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise TorchFormatError(f"refused global {module}.{name} in the pickle: a torch state dict names only "
                               "tensors, storages and OrderedDict, and anything else could run code")

    def persistent_load(self, pid: tuple) -> str:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not pid or pid[0] != "storage":
            raise TorchFormatError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        self.storages[key] = (storage_type.dtype, numel)
        return key


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Name -> array for every tensor in a legacy torch state dict file; TorchFormatError names the file."""
    try:
        with open(path, "rb") as f:
            return _read(f)
    except TorchFormatError as e:
        raise TorchFormatError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError) as e:
        raise TorchFormatError(f"{path}: not a legacy torch file ({type(e).__name__}: {e})") from e


def _read(f: BinaryIO) -> dict[str, np.ndarray]:
    if _Unpickler(f).load() != MAGIC_NUMBER:
        raise TorchFormatError("not a legacy torch file (use torch.load for zip files)")
    if _Unpickler(f).load() != PROTOCOL_VERSION:
        raise TorchFormatError("unsupported torch protocol version")
    _Unpickler(f).load()  # system info: endianness and type sizes; little-endian is all we meet
    unpickler = _Unpickler(f)
    graph = unpickler.load()
    keys = _Unpickler(f).load()
    if not isinstance(graph, dict) or not isinstance(keys, list):
        raise TorchFormatError("not a state dict: the object graph is not a dict of tensors")
    raw: dict[str, np.ndarray] = {}
    for key in keys:
        if key not in unpickler.storages:
            raise TorchFormatError(f"storage {key} is listed but no tensor uses it")
        dtype, numel = unpickler.storages[key]
        (count,) = struct.unpack("<q", f.read(8))
        if count != numel:
            raise TorchFormatError(f"storage {key} holds {count} elements, expected {numel}")
        raw[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    return {name: _materialize(name, ref, raw) for name, ref in graph.items()}


def _materialize(name: str, ref: _TensorRef, raw: dict[str, np.ndarray]) -> np.ndarray:
    storage = raw.get(ref.key) if isinstance(ref, _TensorRef) else None
    if storage is None:
        raise TorchFormatError(f"{name} is not a tensor with a stored storage")
    # as_strided reads wherever offset and strides point: a view past the storage would read other memory
    last = ref.offset + sum((d - 1) * s for d, s in zip(ref.shape, ref.strides))
    if (len(ref.shape) != len(ref.strides) or ref.offset < 0 or min((*ref.shape, *ref.strides), default=0) < 0
            or (0 not in ref.shape and last >= storage.size)):
        raise TorchFormatError(f"{name}: offset {ref.offset}, shape {ref.shape}, strides {ref.strides} reach "
                               f"outside its storage of {storage.size} elements")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[ref.offset:], shape=ref.shape, strides=tuple(s * item for s in ref.strides))
    return np.array(view)  # own, contiguous copy
