"""Label crops in the browser: `python -m models.label crops.jsonl` (or a folder of crops, local or gs://).

Serves a page on 127.0.0.1 and prints its URL. Crops show least certain first; T target, O other,
S skip, U undo. Every label is saved to the crops.jsonl at once; stop the server with Ctrl-C.
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
                        "folder (repeatable). Nothing outside these is ever read.")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        store = LabelStore(args.source)
    except LabelError as e:
        sys.exit(f"models.label: {e}")
    try:
        server = make_server(store, port=args.port, allow=args.allow)
    except OSError as e:
        print(f"models.label: cannot listen on 127.0.0.1:{args.port} ({e.strerror or e}); pass --port 0 to "
              "pick a free port, or another --port", file=sys.stderr)
        sys.exit(2)
    counts = store.counts()
    print(f"labeling {counts['total']} crops ({counts['labeled']} labeled) in {store.path}\n"
          f"open {server.url}  (Ctrl-C stops; labels are already saved)", flush=True)
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
