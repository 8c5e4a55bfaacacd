"""Markdown tables for the validation scripts' output (the docs include validation/RESULTS.md)."""

import pandas as pd


def markdown(table: pd.DataFrame) -> str:
    """``table`` as a GitHub Markdown table, values as they print."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def block(text: str, name: str) -> str:
    """The part of ``text`` between its ``name`` markers, markers included ('' when absent)."""
    start, end = markers(name)
    if start not in text:
        return ""
    return start + text.split(start, 1)[1].split(end, 1)[0] + end


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with what lies between its ``name`` markers replaced by ``body`` (the markers and
    ``body`` appended when ``text`` has none)."""
    start, end = markers(name)
    new = f"{start}\n{body.strip()}\n{end}"
    old = block(text, name)
    return text.replace(old, new) if old else f"{text.rstrip()}\n\n{new}\n"
