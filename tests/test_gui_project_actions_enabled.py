"""Every action that needs a project follows one rule: greyed while no project is open, enabled
when one is, greyed again when it closes (Import and Export did; Audit, Agreement, Review
Disagreements and Calibrate Annotator were enabled with no project and then refused). Real
window, its real Dataset menu, a real project opened and closed."""

from __future__ import annotations

from qbi_desktop.core.catalog import open_project

PROJECT_ONLY = (
    "&Close Project",
    "&Import…",
    "&Export…",
    "&Audit…",
    "A&greement…",
    "Review &Disagreements…",
    "Make a Calibration Set…",
    "My Calibration",
)
ALWAYS = ("&New Project…", "&Open Project…", "&Repair Project…")


def _actions(menu) -> dict[str, object]:
    found = {}
    for action in menu.actions():
        if action.menu() is not None:
            found.update(_actions(action.menu()))
        elif action.text():
            found[action.text()] = action
    return found


def _enabled(window) -> dict[str, bool]:
    window.menus["dataset"].aboutToShow.emit()  # as when the user opens the menu
    actions = _actions(window.menus["dataset"])
    missing = [t for t in PROJECT_ONLY + ALWAYS if t not in actions]
    assert not missing, missing
    return {t: actions[t].isEnabled() for t in PROJECT_ONLY + ALWAYS}


def test_project_only_actions_are_greyed_without_a_project(qtbot, main_window, tmp_path):
    window = main_window
    state = _enabled(window)
    assert [t for t in PROJECT_ONLY if state[t]] == []  # nothing to refuse later
    assert all(state[t] for t in ALWAYS)

    root = tmp_path / "proj"
    open_project(root, create=True).close()
    browser = window.panels["browser"]
    assert browser.open_project(root)
    state = _enabled(window)
    assert all(state[t] for t in PROJECT_ONLY + ALWAYS)

    browser.close_project()
    state = _enabled(window)
    assert [t for t in PROJECT_ONLY if state[t]] == []
