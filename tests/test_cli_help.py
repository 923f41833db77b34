"""``qbi-desktop --help`` tells every way to start the app, and each command's help starts with
its own usage line."""

from __future__ import annotations

import pytest

from qbi_desktop.cli import build_parser, main


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_main_help_lists_the_launch_options(capsys):
    text = _help(capsys, "--help")
    for option in ("--demo", "--self-test", "--new-instance", "--version"):
        assert option in text
    assert "qbi-desktop --self-test" in text.split("\n\n")[0]  # in the usage lines too


def _commands() -> list[str]:
    return sorted(build_parser()._subparsers._group_actions[0].choices)


@pytest.mark.parametrize("command", _commands())
def test_each_command_help_has_a_clean_usage_line(capsys, command):
    text = _help(capsys, command, "--help")
    first = text.splitlines()[0]
    assert first.startswith(f"usage: qbi-desktop {command} ["), first
    usage = text.split("\n\n")[0]
    assert usage.count("qbi-desktop") == 1, usage  # not the main usage lines glued in front


def test_help_after_file_names_shows_the_help(capsys):
    assert main(["scan.tif", "--help"]) == 0
    assert "--new-instance" in capsys.readouterr().out


def test_unknown_command_is_named_with_exit_code_2(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["project", "--help"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'project'" in err and "import" in err and "Traceback" not in err
