"""The one entry point: ``qbi-desktop [FILE...]`` opens the GUI; sub-commands run headless jobs.

Sub-commands live in :mod:`qbi_desktop.commands`, one module each, and call the same core
functions as the docks, so a batch job and a click give the same result.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import qbi_desktop

# Each module registers its sub-command(s) with ``register(subparsers)``.
COMMAND_MODULES = (
    "simulate",
    "project",
    "detect_spots",
    "augment",
    "baseline",
    "normalize",
    "clean_spots",
    "audit",
    "measure",
    "agreement",
    "labels",
    "boxes",
)
PROG = "qbi-desktop"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage="qbi-desktop [FILE ...] [--demo] [--new-instance]\n"
        "       qbi-desktop --self-test\n"
        "       qbi-desktop COMMAND [options]",
        description="QBI Desktop: browse 16-bit radiographs, paint masks, build datasets, augment, "
        "and run honest baselines. Without a command, opens the application window with the "
        "given image files (TIFF, PNG, JPEG, BMP), or with --demo the embedded simulated "
        "radiographs.",
        epilog="Run 'qbi-desktop COMMAND --help' for the options of a command.",
    )
    _add_gui_options(parser)
    parser.add_argument(
        "--version", action="version", version=f"qbi-desktop {qbi_desktop.__version__}"
    )
    # prog given: otherwise argparse builds each command's prog from this parser's usage text
    # (both usage lines), which garbles every 'qbi-desktop COMMAND --help'.
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", prog=PROG)
    for name in COMMAND_MODULES:
        importlib.import_module(f"qbi_desktop.commands.{name}").register(subparsers)
    return parser


def _add_gui_options(parser: argparse.ArgumentParser) -> None:
    """The options of the window launch, shared by the help text and the launch parser."""
    parser.add_argument("--demo", action="store_true", help="open the embedded demo radiographs")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this installation end to end (offscreen), print PASS/FAIL per check, exit",
    )
    parser.add_argument(
        "--new-instance",
        action="store_true",
        help="open a separate window instead of handing the files to the one already running "
        "on this display",
    )


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    parser.add_argument("files", nargs="*")
    _add_gui_options(parser)
    return parser


def _looks_like_command(word: str) -> bool:
    """A bare word that is no file here: a mistyped or unknown command, not an image to open."""
    return (
        not word.startswith("-")
        and not Path(word).suffix
        and "/" not in word
        and "\\" not in word
        and not Path(word).exists()
    )


@contextlib.contextmanager
def _terminal_safe_output() -> Iterator[None]:
    """Labels and file names reach a command's output: escape sequences in them are shown
    escaped, never acted on by the terminal."""
    from qbi_desktop.core.errors import TerminalSafeStream

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalSafeStream(sys.stdout), TerminalSafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _window_launch(argv: list[str]) -> bool:
    """Whether ``argv`` opens the window without doubt: no words, or a first word that no
    command name can be (an option, or a path). Such a start does not import the command
    modules (and the catalog, formats and scipy behind them) before its first frame."""
    if any(word in ("-h", "--help", "--version") for word in argv):
        return False
    if not argv:
        return True
    first = argv[0]
    return first.startswith("-") or "/" in first or "\\" in first or bool(Path(first).suffix)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from qbi_desktop.selftest import attach_parent_console

    attach_parent_console()  # frozen windowed app on Windows: print to the calling console
    if _window_launch(argv):
        gui_args, unknown = build_gui_parser().parse_known_args(argv)
        if not unknown:
            return _launch(gui_args)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
    if argv and (argv[0] in commands or argv[0] in ("-h", "--help", "--version")):
        args = parser.parse_args(argv)
        try:
            with _terminal_safe_output():
                _upgrade_catalog(args)
                return int(args.func(args) or 0)
        except BrokenPipeError:
            # the reader left (`| head`): no traceback, and none from the flush at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except MemoryError:
            # an input too large for this machine, wherever the command met it: one line
            print(
                f"{PROG} {argv[0]}: not enough memory for this input (nothing more was done); "
                "try fewer or smaller files",
                file=sys.stderr,
            )
            return 2
        except OSError as exc:
            # a path the file system cannot hold, met by a look-up no check guards yet (the
            # commands' own checks name it: core.outfolder.probe): one line, not a traceback
            if exc.errno != errno.ENAMETOOLONG:
                raise
            print(
                f"{PROG} {argv[0]}: {exc.filename}: cannot use this path (File name too long: "
                "one of its names is longer than the file system allows); nothing more was done",
                file=sys.stderr,
            )
            return 2
    if argv and _looks_like_command(argv[0]):
        parser.print_usage(sys.stderr)
        print(
            f"{PROG}: unknown command {argv[0]!r} (commands: {', '.join(sorted(commands))})",
            file=sys.stderr,
        )
        return 2
    if any(word in ("-h", "--help") for word in argv):
        parser.print_help()
        return 0
    gui_args, unknown = build_gui_parser().parse_known_args(argv)
    if unknown:
        parser.print_usage(sys.stderr)
        print(f"qbi-desktop: unknown option(s): {' '.join(unknown)}", file=sys.stderr)
        return 2
    return _launch(gui_args)


def _upgrade_catalog(args: argparse.Namespace) -> None:
    """A command on a project whose catalog an older version wrote: the first open builds this
    version's indexes (~30 s at a million items), said step by step on stderr instead of a
    silent wait. A failure is left to the command's own open, which reports it."""
    root = getattr(args, "project", None)
    if not isinstance(root, (str, Path)):
        return
    from qbi_desktop.core.catalog.upgrade import pending, upgrade_job
    from qbi_desktop.core.errors import UserFacingError
    from qbi_desktop.core.jobs import run_job

    if not pending(root):
        return

    def say(progress) -> None:
        print(f"{PROG}: {root}: {progress.message}", file=sys.stderr, flush=True)

    with contextlib.suppress(UserFacingError):
        run_job(upgrade_job(root), on_progress=say)


def _launch(gui_args: argparse.Namespace) -> int:
    if gui_args.self_test:
        from qbi_desktop.selftest import main as self_test

        return self_test()
    from qbi_desktop.gui.app import run_gui

    return run_gui(gui_args.files, demo=gui_args.demo, new_instance=gui_args.new_instance)
