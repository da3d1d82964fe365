"""What the screens read of a ``DataTable``."""

from __future__ import annotations

from textual.widgets import DataTable


def cursor_key(table: DataTable) -> str | None:
    """The key of the row under the cursor; None when the table is empty."""
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
