"""Messages that name import/export kinds or command-line options.

The command line names the kinds as it takes them (``imagefolder``, ``datapackage``) and its
options (``--leave-out-rejected``); the GUI's Import and Export dialogs show other names
("Folder per class", "Data Package") and check boxes. A report note or an error that names
one is a :class:`Named`: as text it reads as the command line says it, and
:meth:`Named.named` gives it with the names a front end shows (core knows no dialog).
"""

from __future__ import annotations

from typing import Any


class Named(str):
    """A message naming kinds or options: as text it names them as the command line does
    ("export 'datapackage'"); :meth:`named` gives it with the names another front end shows.
    ``template`` holds ``{field}`` places (other braces doubled: :meth:`escape`), ``fields``
    their command-line names."""

    template: str
    fields: dict[str, str]

    def __new__(cls, template: str, **fields: str) -> Named:
        self = super().__new__(cls, template.format(**fields))
        self.template, self.fields = template, fields
        return self

    @staticmethod
    def escape(text: str) -> str:
        """``text`` (a file name, a list of names) put into a template as it is."""
        return text.replace("{", "{{").replace("}", "}}")

    def named(self, names: dict[str, str]) -> str:
        """The text with each field's command-line name replaced by ``names[name]`` (if any)."""
        return self.template.format(**{k: names.get(v, v) for k, v in self.fields.items()})


def named(text: Any, names: dict[str, str] | None) -> str:
    """``text`` as :class:`Named` gives it with ``names`` (other text as it is)."""
    return text.named(names) if names and isinstance(text, Named) else str(text)


def message(exc: BaseException, names: dict[str, str] | None) -> str:
    """An error's message with ``names`` (its first argument may be a :class:`Named`)."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return named(first, names) if isinstance(first, Named) else str(exc)
