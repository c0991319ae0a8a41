"""The README's table of `manymodels run`'s options, rendered from the command itself, whose help is the settings'
field descriptions: `python -m app.options_table` prints it, `--write` puts it in README.md between its markers, and
tests/unit/test_readme.py fails while the README's copy differs."""

import sys
from pathlib import Path

import typer.main
from typer.core import TyperOption

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- options:start -->", "<!-- options:end -->"


def run_options() -> list[TyperOption]:
    """The options of `manymodels run`, in the order --help lists them."""
    from app.cli import app

    command = typer.main.get_command(app).commands["run"]
    return [param for param in command.params if isinstance(param, TyperOption)]


def default(option: TyperOption) -> str:
    """An option's default as one types it: a flag's on or off, empty where none is given."""
    if option.required:
        return "required"
    if option.is_flag and option.secondary_opts:
        return "on" if option.default else "off"
    if option.default is None or option.default == "":
        return "empty"
    return f"`{option.default}`"


def cell(text: str) -> str:
    """Text safe in a markdown table cell (a `<name>` would be read as an HTML tag)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def options_table() -> str:
    """The table: each option's flags, default and help."""
    rows = ["| option | default | description |", "| --- | --- | --- |"]
    for option in run_options():
        flags = " / ".join(f"`{flag}`" for flag in [*option.opts, *option.secondary_opts])
        rows.append(f"| {flags} | {default(option)} | {cell(option.help or '')} |")
    return "\n".join(rows)


def between_markers(text: str) -> str:
    """What a README holds between the markers, without the blank lines around it."""
    if START not in text or END not in text:
        raise ValueError(f"the README has no {START} ... {END} markers")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def with_table(text: str, table: str) -> str:
    """The README with the table between its markers."""
    between_markers(text)  # that it has them
    before, rest = text.split(START, 1)
    return f"{before}{START}\n{table}\n{END}{rest.split(END, 1)[1]}"


def main(args: list[str]) -> None:
    table = options_table()
    if args == ["--write"]:
        README.write_text(with_table(README.read_text(), table))
        print(f"wrote the options table into {README}")
    elif not args:
        print(table)
    else:
        sys.exit("usage: python -m app.options_table [--write]")


if __name__ == "__main__":
    main(sys.argv[1:])
