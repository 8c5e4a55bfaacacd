"""Markdown tables for the validation scripts' output (the README quotes them)."""

import pandas as pd


def markdown(table: pd.DataFrame) -> str:
    """``table`` as a GitHub Markdown table, values as they print."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
