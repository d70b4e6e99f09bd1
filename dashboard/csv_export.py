"""CSV exports a spreadsheet opens safely, streamed in chunks (the fleet and the payment history).

A cell whose text starts with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as a
formula by Excel, LibreOffice and Google Sheets (CSV injection), so such text gets a leading `'`.
Numbers the export writes itself (amounts as `Decimal`, counts as `int`) are not text a person typed,
so they are written as they are: a net of `-12.50` stays a number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500


def safe_cell(value) -> str | int | Decimal:
    """The cell as a spreadsheet shows it as text: a leading formula character is defused."""
    if value is None:
        return ""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    return defuse(str(value))


def defuse(text: str | None) -> str | None:
    """`text` with a leading `'` when it starts like a formula (the rule of `safe_cell`)."""
    if text and text[0] in FORMULA_STARTS:
        return "'" + text
    return text


def csv_chunks(
    rows: Iterable[Iterable],
    *,
    text_columns: list[int] | None = None,
    rows_per_chunk: int = ROWS_PER_CHUNK,
) -> Iterator[str]:
    """The CSV text of `rows` in chunks of `rows_per_chunk` rows: a streamed response sends each
    chunk as it is ready, so memory stays flat however many rows.

    Every cell goes through `safe_cell`; or, for exports that already give every cell as text and
    know which columns hold what a person or a provider typed (`text_columns`, by position), only
    those are defused: the same rule, without a call per cell on a million rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    pending = 0
    for row in rows:
        if text_columns is None:
            writer.writerow([safe_cell(cell) for cell in row])
        else:
            for i in text_columns:
                cell = row[i]
                if cell and cell[0] in FORMULA_STARTS:
                    row[i] = "'" + cell
            writer.writerow(row)
        pending += 1
        if pending >= rows_per_chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending or buffer.tell():
        yield buffer.getvalue()
