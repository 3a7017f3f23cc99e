"""Benchmark: decoding every pixel beside decoding only what the models use, on the same files, in one run.

    python -m pipeline.bench_decode --images 'DIR/*.jpg' [--rounds 3] [scan options: models, --decode_bottle_share]

Each file is decoded both ways in turn, alternating which goes first, `--rounds` times; the figures are
each way's median per file, summed. "+ detector input" adds the letterbox to the detector's input, which
also gets cheaper with fewer pixels. Prints one JSON object, then a table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.help_format import DefaultsHelpFormatter
from pipeline.options import ScanOptions

WAYS = ("every pixel", "what the models use")


def _timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def measure(paths: list[str], need, detector_side: int | None, max_pixels: int, rounds: int) -> dict:
    from transforms.decode import decode_image
    from transforms.detection import detector_input

    seconds = {way: {"decode": [], "decode + detector input": []} for way in WAYS}
    decoded_mp = {way: 0.0 for way in WAYS}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        samples = {way: {"decode": [], "decode + detector input": []} for way in WAYS}
        for r in range(rounds):
            for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
                decode_s, image = _timed(decode_image, path, data, max_pixels, lambda _: None,
                                         None if way == WAYS[0] else need)
                input_s, _ = _timed(detector_input, image, detector_side)
                samples[way]["decode"].append(decode_s)
                samples[way]["decode + detector input"].append(decode_s + input_s)
                decoded_mp[way] += image.pixels.shape[0] * image.pixels.shape[1] / 1e6 / rounds
        for way in WAYS:
            for what, values in samples[way].items():
                seconds[way][what].append(statistics.median(values))
    per_image = {way: {what: sum(v) / len(paths) for what, v in by_what.items()} for way, by_what in seconds.items()}
    return {
        "images": len(paths), "rounds": rounds, "need": vars(need),
        "seconds_per_image": {way: {k: round(v, 4) for k, v in d.items()} for way, d in per_image.items()},
        "decoded_megapixels_per_image": {way: round(decoded_mp[way] / len(paths), 2) for way in WAYS},
        "speedup": {what: round(per_image[WAYS[0]][what] / per_image[WAYS[1]][what], 2)
                    for what in per_image[WAYS[0]]},
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
    }


def table(result: dict) -> str:
    s, mp = result["seconds_per_image"], result["decoded_megapixels_per_image"]
    lines = [f"{result['images']} images, median of {result['rounds']} rounds each, 1-min load "
             f"{result['load_avg_1m']} on {result['cpus']} CPUs", "",
             f"{'seconds per image':28}{WAYS[0]:>16}{WAYS[1]:>22}{'speed-up':>10}"]
    for what in s[WAYS[0]]:
        lines.append(f"{what:28}{s[WAYS[0]][what]:>16.4f}{s[WAYS[1]][what]:>22.4f}{result['speedup'][what]:>10.2f}x")
    lines.append(f"{'decoded megapixels':28}{mp[WAYS[0]]:>16.2f}{mp[WAYS[1]]:>22.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from pipeline import logs
    from pipeline.run import scan_config
    from transforms.read import match_entries

    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_decode", description=__doc__.split("\n\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--images", required=True, help="Local glob of images.")
    parser.add_argument("--rounds", type=int, default=3, help="Decodes of each file each way.")
    args, rest = parser.parse_known_args(argv)
    logs.configure(verbose=False)
    paths = [e.path for e in match_entries(args.images)]
    if not paths:
        raise SystemExit(f"--images {args.images!r} matches no file")
    cfg = scan_config(PipelineOptions(rest).view_as(ScanOptions))  # the models' input sizes decide the need
    result = measure(paths, cfg.pixel_need(), cfg.detector.meta.input_size, cfg.max_image_pixels, args.rounds)
    print(json.dumps(result))
    print()
    print(table(result))


if __name__ == "__main__":
    main()
