"""The table renderer every benchmark prints with."""

from __future__ import annotations

import pytest

from bench.table import fmt, ratio, render


def test_columns_line_up_under_the_header() -> None:
    text = render("Title", ["name", "seconds"], [("a", 1.5), ("longer name", 0.25)])
    lines = text.splitlines()
    assert lines[:2] == ["Title", "====="]
    header, rule, first, second = lines[2:6]
    assert rule == "-----------  -------"
    # Every value starts where its header starts.
    assert header.index("seconds") == first.index("1.500") == second.index("0.250")


def test_a_long_cell_wraps_and_the_row_keeps_its_other_cells_on_the_first_line() -> None:
    text = render("T", ["op", "why"], [("create", "one two three four five six")], wrap=10)
    rows = text.splitlines()[4:]
    assert rows[0].startswith("create") and rows[0].endswith("one two")
    assert all(not line.startswith("create") for line in rows[1:])
    assert len(rows) > 1 and " ".join(" ".join(rows).split()) == "create one two three four five six"


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        render("T", ["a", "b"], [("only one",)])


def test_values_print_as_the_tables_need_them() -> None:
    assert (fmt(0.12345), fmt(1234.56), fmt(True), fmt(None), fmt(7)) == ("0.123", "1234.6", "yes", "-", "7")
    assert ratio(2.414) == "2.41x"


def test_a_note_follows_the_table() -> None:
    text = render("T", ["a"], [("x",)], note="read me\nsecond line")
    assert text.endswith("x\n\nread me\nsecond line\n")
