"""The CSV source: a file with a header row and one row per account or user.

The file is a path the server reads at each run, or the file last uploaded
(`PUT /api/v1/connectors/{id}/file`). It is UTF-8 (a BOM is fine), comma-separated, quoted the
way spreadsheets write it. Line numbers count from the header (line 1), so a reported line is the
one an editor shows. A row with more or fewer cells than the header is reported and not used;
`filters.rows` predicates leave rows out before matching. Every pull reads the whole file: a
CSV has no `updated_at` to pull by.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from pulsegate.connectors.feeds import (
    FeedField,
    FeedUnavailable,
    Object,
    Page,
    Pull,
    Record,
    Unfit,
    coerce,
)
from pulsegate.connectors.schemas import RowPredicate

PAGE_ROWS = 500
SAMPLE_ROWS = 1000  # the catalog infers a column's type from this many rows


class CsvFeed:
    def __init__(
        self, object_name: Object, read: Callable[[], bytes], rows: list[RowPredicate]
    ) -> None:
        self._object = object_name
        self._read = read
        self._predicates = rows

    async def aclose(self) -> None:
        return None

    async def catalog(self) -> list[FeedField]:
        header, rows = _parse(self._read())
        sample = [cells for _, cells in rows[:SAMPLE_ROWS]]
        return [
            FeedField(
                object=self._object,
                name=name,
                label=name,
                standard=False,
                type=_infer([c[n] for c in sample if len(c) == len(header) and c[n].strip()]),
            )
            for n, name in enumerate(header)
        ]

    def pull(self, object_name: Object, *, since: str | None) -> Pull:
        return Pull(pages=self._pages(object_name), incremental=False)

    async def _pages(self, object_name: Object) -> AsyncIterator[Page]:
        if object_name != self._object:
            return
        header, rows = _parse(self._read())
        missing = sorted({p.column for p in self._predicates} - set(header))
        if missing:
            raise FeedUnavailable(f"the filters name columns the file lacks: {missing}")
        page = Page(records=[])
        for line, cells in rows:
            if len(cells) != len(header):
                problem = f"the row has {len(cells)} cells, the header {len(header)}"
                page.records.append(Record(object_name, {}, line=line, problem=problem))
            else:
                values = dict(zip(header, cells, strict=True))
                if all(_holds(p, values.get(p.column, "")) for p in self._predicates):
                    page.records.append(Record(object_name, values, line=line))
                else:
                    page.filtered += 1
            if len(page.records) + page.filtered >= PAGE_ROWS:
                yield page
                page = Page(records=[])
        if page.records or page.filtered:
            yield page


def read_path(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise FeedUnavailable(f"cannot read {path}: {error.strerror}") from error

    return read


def _parse(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows, each with the line it starts on."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FeedUnavailable(f"line {line} is not UTF-8") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as error:
        raise FeedUnavailable(f"line {reader.line_num}: {error}") from error
    if not rows:
        raise FeedUnavailable("the file is empty: it needs a header row")
    (_, header), *body = rows
    header = [name.strip() for name in header]
    if len(set(header)) != len(header) or "" in header:
        raise FeedUnavailable("the header needs distinct, non-empty column names")
    return header, body


def _holds(predicate: RowPredicate, cell: str) -> bool:
    value = cell.strip()
    wanted = predicate.value
    choices = wanted if isinstance(wanted, list) else [wanted or ""]
    match predicate.operator:
        case "equals":
            return value == wanted
        case "not_equals":
            return value != wanted
        case "in":
            return value in choices
        case "not_in":
            return value not in choices
        case "empty":
            return value == ""
        case _:  # not_empty
            return value != ""


def _infer(values: list[str]) -> str:
    """The narrowest type every sampled value fits: number, date, checkbox, else text."""
    for source_type, value_type in (
        ("number", "number"),
        ("date", "date"),
        ("checkbox", "boolean"),
    ):
        try:
            if values and all(coerce(v, value_type) is not None for v in values):
                return source_type
        except Unfit:
            continue
    return "text"
