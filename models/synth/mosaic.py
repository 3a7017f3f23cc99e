"""Mosaics of synthetic scenes: many small bottles in one large photo, to measure sliced detection.

    python -m models.synth.mosaic --scenes DIR --out OUT [--grid 3] [--cell 1000]

Each mosaic tiles grid x grid scenes of DIR (a models.synth output), each scaled to fit a square cell
of `cell` pixels on grey, into one image of grid * cell pixels, and writes what models.synth writes
(images/, masks/, truth.jsonl). Boxes and areas are measured again on the scaled masks; a bottle
scaled away to nothing is left out, and so are scenes too few to fill a last mosaic.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from models.synth.truth import read_truth

BACKGROUND = (127, 127, 127)


def _measured(instances: np.ndarray, bottles: list[dict], first: int) -> list[dict]:
    """Truth records of `bottles` re-measured on their instance map (k = bottle k), numbered from `first`."""
    found = []
    for k, bottle in enumerate(bottles, start=1):
        ys, xs = np.nonzero(instances == k)
        if len(ys):
            found.append({**bottle, "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1],
                          "area_px": int(len(ys)), "_from": k, "_to": first + len(found)})
    return found


def tile(scene_dir: Path, records: list[dict], grid: int, cell: int) -> tuple[Image.Image, np.ndarray, list[dict]]:
    """One mosaic of `records` (grid * grid of them): image, instance map, truth bottles."""
    side = grid * cell
    image = Image.new("RGB", (side, side), BACKGROUND)
    instances = np.zeros((side, side), np.uint8)
    bottles: list[dict] = []
    for index, record in enumerate(records):
        scale = cell / max(record["width"], record["height"])
        size = (max(1, round(record["width"] * scale)), max(1, round(record["height"] * scale)))
        left, top = (index % grid) * cell, (index // grid) * cell
        with Image.open(scene_dir / record["image"]) as im:
            image.paste(im.convert("RGB").resize(size, Image.BILINEAR), (left, top))
        with Image.open(scene_dir / record["mask"]) as im:
            mask = np.asarray(im.resize(size, Image.NEAREST))
        placed = _measured(mask, record["bottles"], len(bottles) + 1)
        if len(bottles) + len(placed) > 255:
            raise ValueError("more than 255 bottles in one mosaic do not fit its 8-bit mask; use a smaller --grid")
        region = instances[top:top + size[1], left:left + size[0]]
        for bottle in placed:
            region[mask == bottle.pop("_from")] = bottle.pop("_to")
            x0, y0, x1, y1 = bottle["box"]
            bottle["box"] = [x0 + left, y0 + top, x1 + left, y1 + top]
        bottles += placed
    return image, instances, bottles


def write_mosaics(scene_dir: str | Path, out_dir: str | Path, grid: int = 3, cell: int = 1000) -> int:
    """Write the mosaics of `scene_dir` into `out_dir`; returns how many."""
    scene_dir, out = Path(scene_dir), Path(out_dir)
    records = read_truth(scene_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    lines = []
    for m in range(len(records) // grid ** 2):
        image, instances, bottles = tile(scene_dir, records[m * grid ** 2:(m + 1) * grid ** 2], grid, cell)
        name = f"{m + 1:06d}"
        image.save(out / "images" / f"{name}.jpg", "JPEG", quality=92)
        Image.fromarray(instances).save(out / "masks" / f"{name}.png")
        lines.append(json.dumps({"image": f"images/{name}.jpg", "mask": f"masks/{name}.png", "width": image.width,
                                 "height": image.height, "bottles": bottles}, sort_keys=True))
    (out / "truth.jsonl").write_text("".join(line + "\n" for line in lines))
    return len(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.synth.mosaic", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--scenes", required=True, help="A models.synth output directory.")
    parser.add_argument("--out", required=True, help="Output directory.")
    parser.add_argument("--grid", type=int, default=3, help="Scenes across and down in each mosaic.")
    parser.add_argument("--cell", type=int, default=1000, help="Side (px) of the square each scene is fitted into.")
    args = parser.parse_args(argv)
    count = write_mosaics(args.scenes, args.out, args.grid, args.cell)
    print(f"wrote {count} mosaics of {args.grid}x{args.grid} scenes to {args.out}")


if __name__ == "__main__":
    main()
