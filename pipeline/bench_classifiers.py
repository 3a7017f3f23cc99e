"""Benchmark: classifiers side by side on the same crops, e.g. what knowing several products costs a scan.

    python -m pipeline.bench_classifiers --crops 'out/crops/crops/*.jpg' --classifier demo --classifier my_products
    [--rounds 3] [--batch_size 32] [--limit 512]

Every classifier is loaded through the classifier slot, as a scan loads it. The crops (any images: a
scan's --crops_output or models.synth --crops) are decoded once and fitted to each classifier's input,
untimed. Batches go to every classifier in turn, the order alternating batch by batch and round by round,
so other work on the machine falls on all alike. Per classifier: its products, milliseconds per crop of the
model call and of the Classify stage's decision on its outputs (the classifier's ProductRule), the ratio to
the first classifier, and how many crops it called a product. Prints one JSON object, then a table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from pipeline.bench import image_glob
from pipeline.bench_onnx import rotated
from pipeline.help_format import DefaultsHelpFormatter


def crop_inputs(uris: list[str], sizes: set[tuple[int, str]]) -> dict[tuple[int, str], np.ndarray]:
    """[N, S, S, 3] inputs per (input size, resize mode), as transforms.bottles.classifier_input makes them."""
    from transforms.image_file import DecodeError, load_image
    from transforms.letterbox import fit

    pixels = []
    for uri in uris:
        try:
            pixels.append(load_image(uri).pixels)
        except (DecodeError, OSError) as e:
            print(f"pipeline.bench_classifiers: {uri} left out: {e}", file=sys.stderr)
    if not pixels:
        raise SystemExit("pipeline.bench_classifiers: no crop could be read; pass crop images (--crops)")
    return {(size, mode): np.stack([fit(p, size, mode)[0] for p in pixels]) for size, mode in sizes}


def measure(models: dict, inputs: dict[tuple[int, str], np.ndarray], rounds: int, batch_size: int) -> dict:
    """Interleaved timing of every LoadedModel in `models` on the same crops."""
    key = {name: (m.meta.input_size, m.meta.resize) for name, m in models.items()}
    rules = {name: m.meta.product_rule() for name, m in models.items()}
    count = len(next(iter(inputs.values())))
    for name, model in models.items():  # the first call allocates and plans; it is not throughput
        model.fn(inputs[key[name]][:batch_size])
    model_s, decide_s = dict.fromkeys(models, 0.0), dict.fromkeys(models, 0.0)
    called = dict.fromkeys(models, 0)
    starts = range(0, count, batch_size)
    for round_ in range(rounds):
        for b, start in enumerate(starts):
            for name in rotated(list(models), b + round_):
                batch = inputs[key[name]][start:start + batch_size]
                t0 = time.perf_counter()
                outputs = models[name].fn(batch)
                t1 = time.perf_counter()
                rows = [{k: np.asarray(v)[i] for k, v in outputs.items()} for i in range(len(batch))]
                decided = [rules[name].decide(rules[name].scores(row))[0] for row in rows]
                decide_s[name] += time.perf_counter() - t1
                model_s[name] += t1 - t0
                if round_ == 0:
                    called[name] += sum(product != "other" for product in decided)
    crops = count * rounds
    return {name: {"uri": model.meta.uri, "products": list(rules[name].names), "called_product": called[name],
                   "model_ms_per_crop": round(1000 * model_s[name] / crops, 3),
                   "decide_ms_per_crop": round(1000 * decide_s[name] / crops, 4)}
            for name, model in models.items()}


def table(result: dict) -> str:
    rows = result["classifiers"]
    first = next(iter(rows.values()))
    base = first["model_ms_per_crop"] + first["decide_ms_per_crop"]
    lines = [f"pipeline.bench_classifiers: {result['crops']} crops ({result['source']}), {result['rounds']} "
             f"round(s), batches of {result['batch_size']}, interleaved", "",
             f"{'classifier':<28} {'products':>8} {'model ms/crop':>14} {'decide ms/crop':>15} {'ratio':>7} "
             f"{'called product':>15}"]
    for name, r in rows.items():
        total = r["model_ms_per_crop"] + r["decide_ms_per_crop"]
        lines.append(f"{name[-28:]:<28} {len(r['products']):>8} {r['model_ms_per_crop']:>14.3f} "
                     f"{r['decide_ms_per_crop']:>15.4f} {total / base:>6.2f}x {r['called_product']:>15}")
    lines.append("ratio: (model + decide) time per crop over the first classifier's, in the same run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from models.slots import ModelLoadError, load_model
    from transforms.read import match_entries

    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_classifiers",
                                     description=__doc__.split("\n\n")[0], formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--crops", required=True, help="A folder or glob of crop images (local or gs://).")
    parser.add_argument("--classifier", action="append", required=True,
                        help="A classifier as the scan takes it; twice or more (the first is the baseline).")
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the crops; each classifier's time adds up.")
    parser.add_argument("--batch_size", type=int, default=32, help="Crops per model call.")
    parser.add_argument("--limit", type=int, default=512, help="At most this many crops (the first, sorted).")
    args = parser.parse_args(argv)
    if len(set(args.classifier)) < 2 or args.rounds < 1 or args.batch_size < 1 or args.limit < 1:
        raise SystemExit("pipeline.bench_classifiers: pass two or more different --classifier, and --rounds, "
                         "--batch_size and --limit of 1 or more")
    pattern = image_glob(args.crops)
    uris = sorted(e.uri for e in match_entries(pattern))[:args.limit]
    if not uris:
        raise SystemExit(f"pipeline.bench_classifiers: --crops {pattern} matches no file")
    try:
        models = {uri: load_model("classifier", uri) for uri in args.classifier}
    except ModelLoadError as e:
        raise SystemExit(f"pipeline.bench_classifiers: {e}") from None
    unsized = [uri for uri, m in models.items() if not m.meta.input_size]
    if unsized:
        raise SystemExit(f"pipeline.bench_classifiers: --classifier {unsized[0]} takes any input size, one crop per "
                         "call; this bench compares batched classifiers with a square input (input_size)")
    inputs = crop_inputs(uris, {(m.meta.input_size, m.meta.resize) for m in models.values()})
    result = {"benchmark": "pipeline.bench_classifiers", "source": pattern,
              "crops": len(next(iter(inputs.values()))), "rounds": args.rounds, "batch_size": args.batch_size,
              "classifiers": measure(models, inputs, args.rounds, args.batch_size)}
    print(json.dumps(result, indent=2))
    print()
    print(table(result))
    return result


if __name__ == "__main__":
    main()
