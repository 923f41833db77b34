"""The one entry point: ``qbi-desktop [FILE...]`` opens the GUI; sub-commands run headless jobs.

Sub-commands live in :mod:`qbi_desktop.commands`, one module each, and call the same core
functions as the docks, so a batch job and a click give the same result.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from qbi_desktop import __version__

# Each module registers its sub-command(s) with ``register(subparsers)``.
COMMAND_MODULES = ("simulate", "project", "detect_spots", "augment", "baseline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qbi-desktop",
        usage="qbi-desktop [FILE ...] [--demo]\n       qbi-desktop COMMAND [options]",
        description="QBI Desktop: browse 16-bit radiographs, paint masks, build datasets, augment, "
        "and run honest baselines. Without a command, opens the application window with the "
        "given image files (TIFF, PNG, JPEG, BMP), or with --demo the embedded simulated "
        "radiographs.",
        epilog="Run 'qbi-desktop COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--demo", action="store_true", help="open the embedded demo radiographs")
    parser.add_argument("--version", action="version", version=f"qbi-desktop {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"qbi_desktop.commands.{name}").register(subparsers)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbi-desktop", add_help=False)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--demo", action="store_true", help="open the embedded demo radiographs")
    parser.add_argument("--self-test", action="store_true", help="check this installation, exit")
    parser.add_argument(
        "--new-instance", action="store_true", help="do not hand files to a running window"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from qbi_desktop.selftest import attach_parent_console

    attach_parent_console()  # frozen windowed app on Windows: print to the calling console
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if argv and (argv[0] in commands or argv[0] in ("-h", "--help", "--version")):
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    gui_args, unknown = build_gui_parser().parse_known_args(argv)
    if unknown:
        parser.print_usage(sys.stderr)
        print(f"qbi-desktop: unknown option(s): {' '.join(unknown)}", file=sys.stderr)
        return 2
    if gui_args.self_test:
        from qbi_desktop.selftest import main as self_test

        return self_test()
    from qbi_desktop.gui.app import run_gui

    return run_gui(gui_args.files, demo=gui_args.demo, new_instance=gui_args.new_instance)
