"""The Augment dock's modality profiles: the profile chooser's behaviour (a mixin of the panel),
the note and tooltip that say what a profile switched off and why, and the dialog that saves a
user profile."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from qbi_desktop.core.augment import SPECS, Profile, available_profiles, save_profile
from qbi_desktop.core.augment.profiles import user_profile_dir
from qbi_desktop.core.errors import UserFacingError
from qbi_desktop.gui.docks.augment_editors import pretty

PROFILE_TITLES = {
    "ct": "CT",
    "radiograph": "Radiograph (neutron / X-ray)",
    "microscopy": "Microscopy",
    "natural": "Natural images",
}
# the profile's name in the one-line note (the combo shows the long title)
PROFILE_SHORT = {"radiograph": "Radiograph", "natural": "Natural"}


class ProfilesMixin:
    """The panel's profile combo (``self.profile``), note (``self.profile_note``) and the
    form's held values; needs ``self.form``, ``self.window`` and ``self.schedule``."""

    def _reload_profiles(self, select: str | None = None) -> None:
        current = select if select is not None else self.profile.currentData()
        self._profiles = available_profiles()
        self.profile.blockSignals(True)
        self.profile.clear()
        # short: the combo shares a ~330 px dock's row with "Save profile..."
        self.profile.addItem("None (all allowed)", None)
        self.profile.setItemData(
            0, "No profile: every transform may be used", Qt.ItemDataRole.ToolTipRole
        )
        for name, prof in self._profiles.items():
            title = PROFILE_TITLES.get(name, name) + ("" if prof.builtin else " (user)")
            self.profile.addItem(title, name)
            self.profile.setItemData(
                self.profile.count() - 1, prof.description, Qt.ItemDataRole.ToolTipRole
            )
        idx = self.profile.findData(current)
        self.profile.setCurrentIndex(max(0, idx))
        self.profile.blockSignals(False)
        self._apply_profile()

    def set_profile(self, name: str | None) -> None:
        """Choose a profile by name (``None``: no profile)."""
        idx = self.profile.findData(name)
        if idx < 0:
            raise UserFacingError(
                f"profile: {name!r} is not known (known: {', '.join(sorted(self._profiles))})"
            )
        self.profile.setCurrentIndex(idx)

    def current_profile(self) -> Profile | None:
        name = self.profile.currentData()
        return self._profiles.get(name) if name else None

    def _profile_changed(self, _index: int) -> None:
        self._apply_profile()
        self.schedule()

    def _apply_profile(self) -> None:
        prof = self.current_profile()
        disabled = prof.disabled if prof else {}
        reset, restored = self.form.apply_profile(disabled, prof.name if prof else None)
        changes = []
        if reset:
            changes.append("Switched off now: " + ", ".join(pretty(o) for o in reset))
        if restored:
            changes.append("Restored: " + ", ".join(pretty(o) for o in restored))
        lines = []
        if disabled:
            n = len(disabled)
            short = PROFILE_SHORT.get(prof.name, PROFILE_TITLES.get(prof.name, prof.name))
            lines.append(f"{short}: {n} option{'s' if n != 1 else ''} off — hover for why")
        if changes:
            lines.append("; ".join(changes))
        self.profile_note.setText("\n".join(lines))
        self.profile_note.setToolTip(profile_reasons_html(prof, restored) if prof else "")
        self.profile_note.setVisible(bool(lines))

    def save_profile_as(self, name: str, description: str, disabled: dict[str, str]) -> Path:
        """Write a user profile and select it; returns its file."""
        name = name.strip()
        if not name:
            raise UserFacingError("profile name: give the profile a name")
        if name in PROFILE_TITLES or name in {p for p, v in self._profiles.items() if v.builtin}:
            raise UserFacingError(f"profile name: {name!r} is a built-in profile; choose another")
        from qbi_desktop.core.augment.profiles import profile_from_json

        prof = profile_from_json(
            Profile(name, description, dict(disabled)).to_json(), f"profile {name!r}"
        )
        folder = user_profile_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        path = folder / f"{stem}.json"
        save_profile(prof, path)
        self._reload_profiles(select=name)
        self.schedule()
        return path

    def save_profile_dialog(self) -> None:
        dialog = ProfileDialog(self, self.current_profile())
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            self.save_profile_as(*dialog.result_profile())
        except (UserFacingError, OSError) as exc:
            self.window.report_error(str(exc))


def profile_reasons_html(prof: Profile, restored: list[str] | None = None) -> str:
    """The profile note's tooltip: every option the profile switches off, grouped by reason,
    with the full reason (rich text, so that Qt wraps the long lines)."""
    by_reason: dict[str, list[str]] = {}
    for option, why in prof.disabled.items():
        by_reason.setdefault(why, []).append(pretty(option))
    title = html.escape(PROFILE_TITLES.get(prof.name, prof.name))
    about = f" — {html.escape(prof.description)}" if prof.description else ""
    parts = [f"<p><b>{title}</b>{about}</p>"]
    if by_reason:
        items = "".join(
            f"<li><b>{html.escape(', '.join(opts))}</b>: {html.escape(why)}</li>"
            for why, opts in by_reason.items()
        )
        parts.append(f"<p>Switched off, and why:</p><ul>{items}</ul>")
    else:
        parts.append("<p>Nothing is switched off.</p>")
    if restored:
        parts.append(
            "<p>Restored (a previous profile had switched them off): "
            + html.escape(", ".join(pretty(o) for o in restored))
            + "</p>"
        )
    return "".join(parts)


class ProfileDialog(QDialog):
    """Make a user profile: name, description, and which options it allows (ticked) or forbids
    (unticked, with the reason shown in the dock)."""

    def __init__(self, parent: QWidget | None, base: Profile | None):
        super().__init__(parent)
        self.setWindowTitle("Save modality profile")
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. my-beamline")
        self.description = QLineEdit(base.description if base else "")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("why the unticked options are off (shown in the dock)")
        self.options = QListWidget()
        disabled = dict(base.disabled) if base else {}
        self._reasons = disabled
        for spec in SPECS:
            item = QListWidgetItem(pretty(spec.name))
            item.setData(Qt.ItemDataRole.UserRole, spec.name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(
                Qt.CheckState.Unchecked if spec.name in disabled else Qt.CheckState.Checked
            )
            item.setToolTip(disabled.get(spec.name, spec.help))
            self.options.addItem(item)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        form.addRow(QLabel("Allowed options (untick to forbid):"))
        form.addRow(self.options)
        form.addRow("Reason", self.reason)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def result_profile(self) -> tuple[str, str, dict[str, str]]:
        reason = self.reason.text().strip() or "not allowed for this data"
        disabled = {}
        for row in range(self.options.count()):
            item = self.options.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            if item.checkState() != Qt.CheckState.Checked:
                disabled[name] = self._reasons.get(name, reason)
        return self.name.text(), self.description.text(), disabled
