"""One-line errors: every place that turns an exception into a message uses ``one_line``."""

from sbc_helpers.errors import MESSAGE_LENGTH, one_line


class CellError(Exception):
    """An exception shaped like papermill's, which names the cell's own exception."""

    ename, evalue = "KeyError", "'y'\n  in the cell"


def test_one_line_names_the_type_collapses_whitespace_and_cuts():
    assert one_line(ValueError("bad\n   value")) == "ValueError: bad value"
    assert one_line(ValueError("bad\n value"), typed=False) == "bad value"
    assert one_line(ValueError()) == "ValueError" and one_line(ValueError(), typed=False) == "ValueError"
    assert one_line(CellError("papermill's own text")) == "KeyError: 'y' in the cell"
    assert len(one_line(RuntimeError("x" * 2000))) == len(one_line("y" * 2000)) == MESSAGE_LENGTH
