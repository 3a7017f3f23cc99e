"""Which TensorFlow ops a model file may run: computations on tensors, never files or the network.

A SavedModel or frozen graph is a program. `tf.io.read_file`, `tf.io.write_file`, dataset readers,
summary writers and collective ops run with the scan's own permissions, and TensorFlow runs some of a
SavedModel's functions while it loads it (resource initializers, variable restore functions), before
any signature is called. So the graph is read here as a plain protobuf, before TensorFlow loads it: the
op type of every node, and of every node in every function of its library, must be on ALLOWED_OPS.
ALLOWED_OPS holds what the bundled models, the built-in `coco` graph and the test models use, plus
math, array, image and control-flow ops that only compute on tensors; anything else is refused
(FILE_OPS and NETWORK_OPS only name the reason in the message).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

# Control flow, calls, variables and in-memory tables.
_STRUCTURE = """
Const Placeholder PlaceholderWithDefault Identity IdentityN NoOp StopGradient PreventGradient Snapshot
EnsureShape CheckNumerics CheckNumericsV2 Assert PartitionedCall StatefulPartitionedCall If StatelessIf
While StatelessWhile Case StatelessCase Enter Exit Merge Switch NextIteration LoopCond RefEnter RefExit
RefMerge RefSwitch RefIdentity RefNextIteration ControlTrigger
TensorArrayV3 TensorArrayReadV3 TensorArrayWriteV3 TensorArrayGatherV3 TensorArrayScatterV3
TensorArraySizeV3 TensorArrayConcatV3 TensorArraySplitV3 TensorArrayCloseV3
EmptyTensorList TensorListReserve TensorListFromTensor TensorListStack TensorListGetItem TensorListSetItem
TensorListLength TensorListElementShape TensorListPushBack TensorListPopBack TensorListConcatV2
TensorListGather TensorListScatterIntoExistingList TensorListResize
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp VarIsInitializedOp
ResourceGather VariableShape DestroyResourceOp VariableV2 Assign AssignAdd AssignSub IsVariableInitialized
HashTableV2 MutableHashTableV2 LookupTableFindV2 LookupTableSizeV2 LookupTableImportV2 LookupTableInsertV2
InitializeTableV2
"""
_MATH = """
Abs Acos Acosh Add AddN AddV2 Asin Asinh Atan Atan2 Atanh Ceil Cos Cosh Div DivNoNan Elu Erf Erfc Exp
Expm1 Floor FloorDiv FloorMod Inv Reciprocal IsFinite IsInf IsNan LeakyRelu Log Log1p LogSoftmax Maximum
Minimum Mod Mul MulNoNan Neg Pow RealDiv Relu Relu6 Rint Round Rsqrt Selu Sigmoid Sign Sin Sinh Softmax
Softplus Softsign Sqrt Square SquaredDifference Sub Tan Tanh TruncateDiv TruncateMod Xdivy Xlogy
ClipByValue BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift Invert
Equal NotEqual Greater GreaterEqual Less LessEqual LogicalAnd LogicalOr LogicalNot Select SelectV2
ApproximateEqual
All Any ArgMax ArgMin Max Mean Min Prod Sum Cumsum Cumprod EuclideanNorm TopKV2 InTopKV2 SegmentSum
SegmentMax SegmentMean UnsortedSegmentSum UnsortedSegmentMax UnsortedSegmentMin
MatMul BatchMatMul BatchMatMulV2 BatchMatMulV3 Einsum Conv2D Conv2DBackpropInput Conv3D
DepthwiseConv2dNative DepthwiseConv2dNativeBackpropInput BiasAdd MaxPool MaxPoolV2 AvgPool
FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 LRN
QuantizeV2 Dequantize FakeQuantWithMinMaxVars FakeQuantWithMinMaxArgs
"""
_ARRAY = """
Reshape Shape ShapeN Size Rank ExpandDims Squeeze Transpose ConcatV2 Concat ConcatOffset Split SplitV
Slice StridedSlice Pack Unpack Tile Pad PadV2 MirrorPad Fill ZerosLike OnesLike Range Gather GatherV2
GatherNd ScatterNd TensorScatterUpdate TensorScatterAdd ReverseV2 Cast Bitcast BroadcastTo
BroadcastArgs BroadcastGradientArgs OneHot LinSpace Unique Where SpaceToBatchND BatchToSpaceND
SpaceToDepth DepthToSpace MatrixBandPart MatrixDiagV3 MatrixDiagPartV3 MatrixSetDiagV3 InvertPermutation
ListDiff Bucketize SparseToDense StringJoin StaticRegexFullMatch ShardedFilename
"""
_IMAGE = """
ResizeBilinear ResizeNearestNeighbor ResizeBicubic ResizeArea ScaleAndTranslate CropAndResize
NonMaxSuppression NonMaxSuppressionV2 NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5
CombinedNonMaxSuppression ExtractImagePatches AdjustContrastv2 RGBToHSV HSVToRGB
"""
ALLOWED_OPS = frozenset((_STRUCTURE + _MATH + _ARRAY + _IMAGE).split())

# Checkpoint I/O: allowed only in the saver every SavedModel carries (see _saver_nodes). TensorFlow 2's
# loader restores variables with its own ops; a TF1 SavedModel's restore op reads the model's own
# variables/ at the path the loader feeds it.
CHECKPOINT_OPS = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints"})

FILE_OPS = frozenset("""
ReadFile WriteFile MatchingFiles Save SaveV2 SaveSlices Restore RestoreV2 RestoreSlice MergeV2Checkpoints
ImmutableConst WholeFileReader WholeFileReaderV2 TextLineReader TextLineReaderV2 TFRecordReader
TFRecordReaderV2 FixedLengthRecordReader FixedLengthRecordReaderV2 LMDBReader RecordInput
TFRecordDataset TFRecordDatasetV2 TextLineDataset FixedLengthRecordDataset FixedLengthRecordDatasetV2
CSVDataset CSVDatasetV2 ExperimentalCSVDataset ExperimentalLMDBDataset LMDBDataset SqlDataset
ExperimentalSqlDataset SaveDataset SaveDatasetV2 LoadDataset DatasetToTFRecord
ExperimentalDatasetToTFRecord SnapshotDataset SnapshotDatasetV2 SnapshotDatasetReader SnapshotChunkDataset
CacheDataset CacheDatasetV2 InitializeTableFromTextFile InitializeTableFromTextFileV2
CreateSummaryFileWriter WriteSummary WriteScalarSummary WriteHistogramSummary WriteImageSummary
WriteAudioSummary WriteGraphSummary WriteRawProtoSummary ImportEvent FlushSummaryWriter CloseSummaryWriter
PrintV2 DebugIdentity DebugIdentityV3 DebugNanCount DebugNumericSummary DecodeProtoV2 EncodeProto
LoadAndRemapMatrix GenerateVocabRemapping
""".split())  # PrintV2 and the Debug ops write to a file:// (or grpc://) target; the proto codecs read descriptor files

NETWORK_OPS = frozenset("""
_Send _Recv _HostSend _HostRecv RemoteCall CollectiveReduce CollectiveReduceV2 CollectiveReduceV3
CollectiveGather CollectiveGatherV2 CollectiveBcastSend CollectiveBcastRecv CollectiveBcastSendV2
CollectiveBcastRecvV2 CollectiveAllToAllV2 CollectiveAllToAllV3 CollectiveInitializeCommunicator
CollectivePermute CollectiveAssignGroupV2 NcclAllReduce NcclBroadcast NcclReduce DataServiceDataset
DataServiceDatasetV2 DataServiceDatasetV3 DataServiceDatasetV4 RegisterDataset RegisterDatasetV2 RpcServer
RpcClient RpcCall RpcServerStart RpcServerRegister DebugIdentityV2 DebugNumericSummaryV2
""".split())

MAX_NAMED = 8  # ops named in a refusal; a foreign graph can have dozens


def refusal(ops: Iterable[str]) -> str | None:
    """Why a model with these op types may not run, in one line ending in what to do; None if it may."""
    bad = sorted(set(ops) - ALLOWED_OPS)
    if not bad:
        return None
    groups = [([op for op in bad if op in FILE_OPS], ("reads or writes", "read or write"), "files"),
              ([op for op in bad if op in NETWORK_OPS], ("reaches", "reach"), "the network"),
              ([op for op in bad if op not in FILE_OPS | NETWORK_OPS], ("shelfscan does not know to be",) * 2,
               "harmless")]
    parts = [f"{_names(names)}, which {verbs[len(names) > 1]} {what}" for names, verbs, what in groups if names]
    rule = ("shelfscan refuses model files that touch files or the network" if not groups[2][0] else
            "shelfscan runs only model files whose ops compute on tensors (models.model_ops.ALLOWED_OPS)")
    return f"its graph runs {' and '.join(parts)}; {rule} — pass --trust_model_code if you trust this model"


def _names(ops: list[str]) -> str:
    shown = ", ".join(ops[:MAX_NAMED])
    return shown + (f" and {len(ops) - MAX_NAMED} more" if len(ops) > MAX_NAMED else "")


def saved_model_ops(directory: str | Path) -> set[str]:
    """Every op type the SavedModel at `directory` can run, read from saved_model.pb without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(directory) / "saved_model.pb").read_bytes())
    ops: set[str] = set()
    for meta_graph in saved.meta_graphs:  # the loader picks one by its tags; check them all
        ops |= graph_def_ops(meta_graph.graph_def, _saver_nodes(meta_graph.graph_def, meta_graph.saver_def))
    return ops


def graph_def_ops(graph_def, saver: frozenset[str] = frozenset()) -> set[str]:
    """Every op type the nodes of `graph_def` and the functions of its library can run.

    CHECKPOINT_OPS count only where model code uses them, not in the `saver` nodes and the functions
    that only they call. Every library function the saver does not call counts as model code: a
    SavedModel's object graph names functions (tf.function methods, resource initializers) that no node
    calls.
    """
    library = {f.signature.name: f for f in graph_def.library.function}
    outside = [node for node in graph_def.node if node.name not in saver]
    inside = [node for node in graph_def.node if node.name in saver]
    saver_functions = _reachable(_calls(inside, library), library)
    model_functions = _reachable(_calls(outside, library) | (set(library) - saver_functions), library)
    model_ops = _ops(outside, library).union(*(_ops(library[f].node_def, library) for f in model_functions))
    saver_ops = _ops(inside, library).union(*(_ops(library[f].node_def, library)
                                              for f in saver_functions - model_functions))
    return model_ops | (saver_ops - CHECKPOINT_OPS)


def _ops(nodes, library: dict) -> set[str]:
    """The op types `nodes` run themselves; a function attr naming no library function names an op,
    which TensorFlow runs as a one-op function."""
    return {name for node in nodes for name in (node.op, *_attr_functions(node)) if name not in library}


def _calls(nodes, library: dict) -> set[str]:
    """The library functions `nodes` call: by op type, or through a function attr (If, While, calls)."""
    return {name for node in nodes for name in (node.op, *_attr_functions(node)) if name in library}


def _reachable(roots: set[str], library: dict) -> set[str]:
    found, pending = set(), list(roots)
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            pending += _calls(library[name].node_def, library)
    return found


def _node_name(tensor: str) -> str:
    """'^name', 'name:0' -> 'name'."""
    return tensor.lstrip("^").split(":")[0]


def _saver_nodes(graph_def, saver_def) -> frozenset[str]:
    """The nodes of the saver that `saver_def` names, and every node they take inputs from."""
    by_name = {node.name: node for node in graph_def.node}
    pending = [_node_name(t) for t in (saver_def.save_tensor_name, saver_def.restore_op_name) if t]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        if name in by_name and name not in found:
            found.add(name)
            pending += [_node_name(t) for t in by_name[name].input]
    return frozenset(found)


def _attr_functions(node) -> Iterator[str]:
    """Names of the functions in a node's attrs, including those in a function's own attrs."""
    pending = list(node.attr.values())
    while pending:
        value = pending.pop()
        funcs = ([value.func] if value.HasField("func") else []) + (
            list(value.list.func) if value.HasField("list") else [])
        for func in funcs:
            yield func.name
            pending += func.attr.values()
