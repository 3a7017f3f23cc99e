"""`python -m models.realset OUT_DIR`: the real test set's photos and instances.json, assembled in OUT_DIR."""
from __future__ import annotations

import argparse
import sys

from models.realset import RealSetError, assemble


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.realset", description=__doc__)
    parser.add_argument("out_dir", help="Folder to write images/ and instances.json into.")
    args = parser.parse_args(argv)
    try:
        print(assemble(args.out_dir))
    except RealSetError as e:
        sys.exit(f"models.realset: {e}")


if __name__ == "__main__":
    main()
