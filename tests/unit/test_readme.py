"""The README stays an entry page: at most 200 lines, a quick start of two commands, no measurements in its prose,
links that resolve, and a table of `manymodels run`'s options that is the one the CLI gives (`make readme`)."""

import re
from pathlib import Path

import pytest

from app.options_table import END, START, between_markers, options_table, run_options, with_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(text: str, title: str) -> str:
    """A `## title` section of a markdown text, up to the next `## `."""
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_blocks(text: str) -> list[list[str]]:
    """The lines of each fenced code block."""
    return [block.strip("\n").splitlines() for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S)]


def prose(text: str) -> str:
    """A markdown text without its code blocks and its generated options table."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return text.split(START, 1)[0] + text.split(END, 1)[1]


def test_the_options_table_is_the_one_the_cli_gives():
    assert between_markers(README) == options_table(), "the README's options table is stale: run `make readme`"


def test_the_table_has_a_row_for_every_option_of_run():
    rows = options_table().splitlines()[2:]
    assert len(rows) == len(run_options()) > 30
    assert rows[0].startswith("| `--data` | required | Input CSV")
    assert "| `--global-model` / `--no-global-model` | on |" in options_table()
    assert "| `--levels` | `80,95` |" in options_table()


@pytest.mark.parametrize(
    "stale",
    [
        lambda table: table.replace("Optuna trials per series", "Trials per series"),  # a description changed
        lambda table: table.replace("| `--horizon` | `28` |", "| `--horizon` | `14` |"),  # a default changed
        lambda table: "\n".join(line for line in table.splitlines() if "--keep-versions" not in line),  # one gone
        lambda table: table + "\n| `--new` | empty | An option added to the table only. |",
    ],
    ids=["description", "default", "option dropped", "option added"],
)
def test_a_stale_table_is_caught_and_make_readme_mends_it(stale):
    table = options_table()
    readme = with_table(README, stale(table))
    assert between_markers(readme) != table
    assert between_markers(with_table(readme, table)) == table
    assert with_table(readme, table) == with_table(README, table)  # nothing else touched


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        between_markers("# manymodels\n")


def test_the_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200


def test_the_quick_start_is_make_demo_and_make_test():
    assert code_blocks(section(README, "Quick start")) == [["make demo", "make test"]]


def test_the_readme_prose_has_no_decimal_figures_or_dates():
    text = prose(README)
    assert re.findall(r"(?<![\d.])\d+\.\d+(?![\d.])", text) == []
    assert re.findall(r"\b20\d\d-\d\d-\d\d\b", text) == []


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    links = set(re.findall(r"\]\(([^)#]+)\)", README))
    assert [link for link in links if "://" not in link and not (ROOT / link).exists()] == []
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages and pages - links == set()


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=lambda page: page.name)
def test_each_docs_page_is_headed_by_its_question_and_links_pages_that_exist(page):
    text = page.read_text()
    assert text.startswith("# ") and text.splitlines()[0].endswith("?")
    links = re.findall(r"\]\(([^)#:]+)\)", text)
    assert [link for link in links if not (page.parent / link).exists()] == []
    assert re.findall(r"\b20\d\d-\d\d-\d\d\b", text) == []  # dated measurements belong to benchmarks/RESULTS.md
