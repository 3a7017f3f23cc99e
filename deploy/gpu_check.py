"""Fail fast when the worker sees no GPU: `python gpu_check.py` exits 1 with the reason."""
import sys


def main() -> int:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("no GPU visible to TensorFlow: check worker_accelerator and install-nvidia-driver "
              "in --dataflow_service_options, and the CUDA base image", file=sys.stderr)
        return 1
    with tf.device("/GPU:0"):
        value = float(tf.reduce_sum(tf.ones([256, 256]) @ tf.ones([256, 256])))
    print(f"GPUs: {[g.name for g in gpus]}; matmul check {value:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
