"""Write synthetic shelf scenes with exact truth, or pack shots of each brand.

    python -m models.synth --out DIR --count N [--seed S] [--crops] [--label_by target|brand]
                           [--products a,b,c] [--max_side PX | --size WxH] [--coco]
    python -m models.synth --references DIR --per_brand N [--brands a,b,c] [--seed S]

`--size 4032x3024` makes every scene that size (a 12 MP phone photo); truth is in its pixels as always.
The bundled samples are `python -m models.synth --out pipeline/samples --count 5 --seed 7 --max_side 1000`.
`--label_by brand` labels crops (and names COCO categories) by brand instead of target/other;
`--products` keeps the brands listed and labels the rest `other` (models/synth/products.py).
`--references` writes N pack shots per brand to DIR/<brand>/NNN.jpg (models/synth/references.py).
"""
from __future__ import annotations

import argparse
import re
import sys
import time

from models.synth.generator import generate
from models.synth.products import LABEL_BY, Labeling, parse_brands
from models.synth.references import write_references
from models.synth.truth import write_coco

MIN_SIDE = 240  # the shortest side the generator draws: room for a shelf row with bottles on it
DEFAULT_MAX_SIDE = 4000


def parse_size(text: str) -> tuple[int, int]:
    """"4032x3024" -> (4032, 3024); anything else is an argparse error that says what is expected."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 4032x3024, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"{text}: both sides must be at least {MIN_SIDE} px to hold a shelf")
    return width, height


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models.synth", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="Write scenes (images/, masks/, truth.jsonl) to this directory.")
    where.add_argument("--references", metavar="DIR", help="Write pack shots to DIR/<brand>/NNN.jpg instead.")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="Same seed, same bytes (default 0).")
    scenes = parser.add_argument_group("scenes (--out)")
    scenes.add_argument("--count", type=_positive, metavar="N", help="Number of scenes.")
    scenes.add_argument("--crops", action="store_true", help="Also write labeled crops and crops.jsonl.")
    scenes.add_argument("--label_by", choices=LABEL_BY, default=None,
                        help="Crop labels and COCO categories: 'target' (micellar_rose = target, the rest other; "
                             "the default) or 'brand' (each bottle's brand name).")
    scenes.add_argument("--products", type=parse_brands, default=None, metavar="A,B,C",
                        help="With --label_by brand: the brands that are products; the others are labeled other. "
                             "Default: every brand.")
    sizes = scenes.add_mutually_exclusive_group()
    sizes.add_argument("--max_side", type=_positive, default=None, metavar="PX",
                       help=f"Cap on the long image side (px; default {DEFAULT_MAX_SIDE}).")
    sizes.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                       help="Every scene exactly WIDTHxHEIGHT px, e.g. 4032x3024 (a 12 MP phone photo). "
                            "Default: sizes drawn as for the bundled samples, up to --max_side.")
    scenes.add_argument("--coco", action="store_true",
                        help="Also write the truth as COCO instances.json (RLE masks), as labeling tools export.")
    shots = parser.add_argument_group("pack shots (--references)")
    shots.add_argument("--per_brand", type=_positive, metavar="N", help="Pack shots of each brand.")
    shots.add_argument("--brands", type=parse_brands, default=None, metavar="A,B,C",
                       help="Only these brands (default: every brand).")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse options of the other mode, and labels that would label nothing, as argparse errors (exit 2)."""
    scene_only = {"--count": args.count, "--crops": args.crops, "--label_by": args.label_by,
                  "--products": args.products, "--max_side": args.max_side, "--size": args.size, "--coco": args.coco}
    shot_only = {"--per_brand": args.per_brand, "--brands": args.brands}
    mode, needed, foreign = (("--references", "--per_brand", scene_only) if args.references
                             else ("--out", "--count", shot_only))
    given = [name for name, value in foreign.items() if value not in (None, False)]
    if given:
        parser.error(f"{', '.join(given)} not allowed with {mode}")
    if {**scene_only, **shot_only}[needed] is None:
        parser.error(f"{mode} needs {needed} N")
    if args.products is not None and args.label_by != "brand":
        parser.error("--products names the brands to label by name; add --label_by brand")
    if args.label_by == "brand" and not (args.crops or args.coco):
        parser.error("--label_by names the labels of crops and COCO categories; add --crops or --coco")


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    start = time.perf_counter()
    if args.references:
        write_references(args.references, args.per_brand, args.brands, args.seed)
        print(f"wrote {args.per_brand} pack shots per brand to {args.references} in "
              f"{time.perf_counter() - start:.1f}s", file=sys.stderr)
        return
    labeling = Labeling(args.label_by or "target", args.products)
    generate(args.out, args.count, args.seed, args.crops, args.max_side or DEFAULT_MAX_SIDE, args.size, labeling)
    if args.coco:
        write_coco(args.out, brands=labeling.brands)
    print(f"wrote {args.count} scenes to {args.out} in {time.perf_counter() - start:.1f}s", file=sys.stderr)
