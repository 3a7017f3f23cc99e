"""Benchmark: the Beam scan's img/s next to the same models in a plain Python loop, same run.

    python -m pipeline.bench --images 'DIR/images/*.jpg' [--repeat 1] [Beam/scan options]

Prints one JSON object: bare_img_per_s, scan_img_per_s, ratio (scan / bare), and the counts of both,
which must agree.
"""
from __future__ import annotations

import argparse
import glob
import json
import sys
import time

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from models.handler import run_tasks
from pipeline.options import ScanOptions
from pipeline.run import model_settings, run
from transforms.classify import classifier_input
from transforms.crops import crop_pixels
from transforms.decode import decode_image
from transforms.detect import detector_input, to_detections
from transforms.segment import segmenter_input
from transforms.slicing import slice_size_for
from transforms.classify import ClassifiedCrop
from transforms.crops import Crop
from transforms.records import CropKey


def bare_loop(uris: list[str], scan: ScanOptions) -> dict:
    """Decode, detect, crop, classify and segment with the scan's own functions, no Beam."""
    from models import slots

    det_s, cls_s, seg_s = model_settings(scan)
    start = time.monotonic()  # both sides pay for loading the models once
    det = slots.load_model("detector", det_s.uri, **det_s.overrides)
    cls = slots.load_model("classifier", cls_s.uri, **cls_s.overrides)
    seg = slots.load_model("segmenter", seg_s.uri, **seg_s.overrides)
    images = []
    for uri in uris:
        with FileSystems.open(uri) as f:
            images.append(decode_image(uri, f.read(), scan.max_image_pixels))
    slice_size = slice_size_for(scan.slice_size, det.meta.extra)
    tasks = [detector_input(im, det.meta.input_size, det.meta.resize, slice_size, scan.slice_overlap)
             for im in images]
    det_batch = det_s.batch_size if det.meta.input_size else 1
    crops = []
    for task, out in zip(tasks, run_tasks(det, tasks, det_batch)):
        dets = to_detections(task, out, det.meta.threshold, det.meta.class_filter)
        crops += [Crop(CropKey(task.image.uri, i), d.box, d.score, crop_pixels(task.image, d.box))
                  for i, d in enumerate(dets)]
    cls_tasks = [classifier_input(c, cls.meta.input_size, cls.meta.resize) for c in crops]
    scores = [float(o["scores"]) for o in run_tasks(cls, cls_tasks, cls_s.batch_size)]
    targets = [ClassifiedCrop(c, s) for c, s in zip(crops, scores) if s >= cls.meta.threshold]
    seg_tasks = [segmenter_input(t, seg.meta.input_size, seg.meta.resize) for t in targets]
    run_tasks(seg, seg_tasks, seg_s.batch_size)
    wall = time.monotonic() - start
    return {"images": len(images), "bottles": len(crops), "targets": len(targets), "wall_s": wall}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--images", required=True, help="Local glob of images to scan.")
    args, rest = parser.parse_known_args(argv)
    uris = sorted(glob.glob(args.images))
    if not uris:
        raise SystemExit(f"--images {args.images!r} matches no file")
    scan = PipelineOptions(rest).view_as(ScanOptions)
    bare = bare_loop(uris, scan)
    report = run([*rest, "--input", args.images, "--no_progress"])
    scan_rate = report.images / report.pipeline_s  # the Beam job alone, as before the launcher's model check
    result = {
        "images": len(uris),
        "bare_img_per_s": round(bare["images"] / bare["wall_s"], 3),
        "scan_img_per_s": round(scan_rate, 3),
        "ratio": round(scan_rate / (bare["images"] / bare["wall_s"]), 3),
        "bare": bare,
        "scan": {"images": report.images, "bottles": report.bottles, "targets": report.targets,
                 "wall_s": round(report.pipeline_s, 2)},
    }
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
