"""Label crops in the browser: `python -m models.label crops.jsonl` (or a folder of crops, local or gs://).

Serves a page on 127.0.0.1 and prints its URL. Crops show least certain first, with the shelf around them
when their photo can be read; keys 1-9 label products 1-9 (named on the page, where more can be added; T
is the single product `target` of older lists), O other, S skip, Shift+O the rest of the page other, U undo,
arrows move, N/P next/previous page, Z the whole photo. Every label is saved to the crops.jsonl at once; stop
the server with Ctrl-C.
"""
from __future__ import annotations

import argparse
import sys

from models.label.server import make_server
from models.label.store import LabelError, LabelStore


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m models.label", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("source", help="crops.jsonl (pipeline.run --crops_output DIR writes DIR/crops.jsonl) or a "
                                  "folder of crop images; labels go to FOLDER/crops.jsonl")
    p.add_argument("--port", type=int, default=8765, help="Port on 127.0.0.1; 0 picks a free one.")
    p.add_argument("--allow", action="append", default=[], metavar="DIR",
                   help="A folder or gs:// prefix whose images the page may show besides the list's own "
                        "folder, e.g. the scanned photos, for the shelf around each crop (repeatable). "
                        "Nothing outside these is ever read.")
    p.add_argument("--products", type=_names, default=None, metavar="A,B,C",
                   help="Products to offer, e.g. those your classifier knows, in its order: they take the number "
                        "keys after those an earlier session kept (crops.products.json); the products the list "
                        "names (labels, the scan's predictions) and those added on the page follow.")
    return p.parse_args(argv)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _photos_line(store: LabelStore, server) -> str | None:
    """One line when rows name source photos the server may not read, saying how to show them."""
    outside = [r["image_uri"] for r in store.records
               if "image_uri" in r and not server.images.photo_allowed(r)]
    if not outside:
        return None
    return (f"{len(outside)} crops come from photos outside the allowed folders (e.g. {outside[0]}), so they show "
            "without the shelf around them; pass --allow FOLDER to show it")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        store = LabelStore(args.source, products=args.products or ())
    except LabelError as e:
        sys.exit(f"models.label: {e}")
    try:
        server = make_server(store, port=args.port, allow=args.allow)
    except OSError as e:
        print(f"models.label: cannot listen on 127.0.0.1:{args.port} ({e.strerror or e}); pass --port 0 to "
              "pick a free port, or another --port", file=sys.stderr)
        sys.exit(2)
    counts = store.counts()
    keys = "  ".join(f"{k} {name}" for k, name in enumerate(store.products[:9], 1))
    if len(store.products) > 9:
        keys += f"  (+{len(store.products) - 9} more on the page)"
    print(f"labeling {counts['total']} crops ({counts['labeled']} labeled) in {store.path}; products: {keys}\n"
          f"open {server.url}  (Ctrl-C stops; labels are already saved)", flush=True)
    if line := _photos_line(store, server):
        print(f"models.label: {line}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        done = store.counts()
        print(f"\n{done['labeled']} of {done['total']} labeled; train with:\n"
              f"  python -m models.train_classifier --data {store.path} --out my_classifier")


if __name__ == "__main__":
    main()
