"""The legacy torch reader: every one of its five pickles is read by the restricted unpickler.

The files are written here without torch: stand-in `torch` and `torch._utils` modules give pickle the
global names a real legacy file holds.
"""
from __future__ import annotations

import builtins
import collections
import os
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from models.backbone import torch_legacy

SYSTEM_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-in torch modules, so that pickle writes `torch.FloatStorage` and `torch._utils._rebuild_tensor_v2`."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, torch._utils, utils._rebuild_tensor_v2 = FloatStorage, utils, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Storage:
    def __init__(self, key: str, values: np.ndarray):
        self.key, self.values = key, values.astype(np.float32).ravel()


class _Tensor:
    def __init__(self, storage: _Storage, offset: int, shape: tuple, strides: tuple):
        self.args = (storage, offset, shape, strides, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


class _Payload:
    """What an attacker's pickle holds: unpickling it calls `call(*args)`."""

    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def _write(path, graph: dict, storages: list[_Storage], replace: dict[int, object] | None = None):
    """A legacy torch file: magic, protocol, system info, `graph`, storage keys, then the storages' bytes;
    `replace` swaps the pickle at a position (0-4) for another object."""
    torch = sys.modules["torch"]

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, obj.key, "cpu", obj.values.size)
            return None

    parts = [torch_legacy.MAGIC_NUMBER, torch_legacy.PROTOCOL_VERSION, SYSTEM_INFO, graph, [s.key for s in storages]]
    for position, obj in (replace or {}).items():
        parts[position] = obj
    with open(path, "wb") as f:
        for part in parts:
            Pickler(f, protocol=2).dump(part)
        for storage in storages:
            f.write(struct.pack("<q", storage.values.size) + storage.values.tobytes())
    return path


def test_a_legacy_state_dict_reads_back_with_offsets_and_strides(fake_torch, tmp_path):
    storage = _Storage("0", np.arange(12))
    graph = collections.OrderedDict(
        weight=_Tensor(storage, 0, (3, 4), (4, 1)),
        transposed=_Tensor(storage, 0, (4, 3), (1, 4)),
        tail=_Tensor(storage, 10, (2,), (1,)),
        scalar=_Tensor(storage, 5, (), ()))
    state = torch_legacy.load_state_dict(_write(tmp_path / "ok.pth", graph, [storage]))
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(state["weight"], expected)
    np.testing.assert_array_equal(state["transposed"], expected.T)
    np.testing.assert_array_equal(state["tail"], [10, 11])
    assert state["scalar"] == 5 and state["weight"].dtype == np.float32


@pytest.mark.parametrize("position", [0, 1, 2, 3, 4])
def test_a_malicious_pickle_is_refused_wherever_it_sits(fake_torch, tmp_path, position):
    storage = _Storage("0", np.arange(4))
    target = tmp_path / "pwned.txt"
    payload = _Payload(builtins.open, str(target), "w")
    path = _write(tmp_path / "evil.pth", {"w": _Tensor(storage, 0, (4,), (1,))}, [storage],
                  replace={position: {"w": payload} if position == 3 else payload})
    with pytest.raises(torch_legacy.TorchFormatError) as error:
        torch_legacy.load_state_dict(path)
    assert str(error.value).startswith(f"{path}: refused global io.open in the pickle")
    assert not target.exists()
    pickle.loads(pickle.dumps(payload))  # the payload works when pickle trusts it
    assert target.exists()


def test_os_system_in_the_system_info_is_refused(fake_torch, tmp_path):
    storage = _Storage("0", np.arange(4))
    target = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pth", {"w": _Tensor(storage, 0, (4,), (1,))}, [storage],
                  replace={2: _Payload(os.system, f"touch {target}")})
    with pytest.raises(torch_legacy.TorchFormatError, match=r"refused global (posix|os)\.system"):
        torch_legacy.load_state_dict(path)
    assert not target.exists()


@pytest.mark.parametrize("offset, shape, strides", [(0, (100,), (1,)), (3, (2,), (1,)), (0, (2, 2), (1, 3))])
def test_a_tensor_view_past_its_storage_is_refused(fake_torch, tmp_path, offset, shape, strides):
    """A view beyond its storage would copy whatever memory lies after it into the weights."""
    storage = _Storage("0", np.arange(4))
    path = _write(tmp_path / "wide.pth", {"w": _Tensor(storage, offset, shape, strides)}, [storage])
    with pytest.raises(torch_legacy.TorchFormatError, match="reach outside its storage of 4 elements"):
        torch_legacy.load_state_dict(path)


def test_a_truncated_file_is_a_format_error(fake_torch, tmp_path):
    storage = _Storage("0", np.arange(4))
    path = _write(tmp_path / "ok.pth", {"w": _Tensor(storage, 0, (4,), (1,))}, [storage])
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(torch_legacy.TorchFormatError, match="not a legacy torch file"):
        torch_legacy.load_state_dict(path)
