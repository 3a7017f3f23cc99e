"""--help text for our commands: argparse's, with the defaults that mean something. Beam-free, so a
command that needs no pipeline does not load Beam to print its help."""
from __future__ import annotations

import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" where a default means something and the help text does not say it already."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = isinstance(action.default, (list, tuple)) and not action.default
        if empty or action.default in (None, False, argparse.SUPPRESS) or "default" in text.lower():
            return text
        return text + " (default: %(default)s)"
