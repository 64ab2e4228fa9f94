"""A text table no wider than the terminal: long cells are cut, and columns that still do not fit go to a further block
(repeating the first column) instead of letting each row wrap onto the next line."""

import os
import shutil
import sys

NOT_A_TERMINAL_WIDTH = 160  # a log file, a pipe, CI
MIN_WIDTH = 12  # a cell is never cut shorter
PACK_WIDTH = 24  # a block takes columns while each keeps this much; the rest go to the next block
GAP = "  "
CUT = "…"


def output_width() -> int:
    """$COLUMNS when set, else the terminal's width, else 160."""
    if os.environ.get("COLUMNS", "").isdigit():
        return max(int(os.environ["COLUMNS"]), 20)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((NOT_A_TERMINAL_WIDTH, 24)).columns
    return NOT_A_TERMINAL_WIDTH


def cut(text: str, width: int, keep_end: bool = False) -> str:
    """Text shortened to `width` characters with `…` where it was cut (the start of a name, the end of a value)."""
    if len(text) <= width:
        return text
    return CUT + text[len(text) - width + 1 :] if keep_end else text[: width - 1] + CUT


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def table_lines(header: list[str], rows: list[list[str]], width: int) -> list[str]:
    """Left-aligned columns (numbers right-aligned), every line at most `width` characters."""
    natural = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    blocks: list[list[int]] = [[0]]  # column indexes; each block starts with the first column (the run's name)
    for index in range(1, len(header)):
        used = natural[0] + sum(min(natural[i], PACK_WIDTH) + len(GAP) for i in [*blocks[-1][1:], index])
        if used > width and len(blocks[-1]) > 1:
            blocks.append([0])
        blocks[-1].append(index)
    lines: list[str] = []
    for number, block in enumerate(blocks):
        if number:
            lines.append("")
        room = width - natural[0] - len(GAP) * (len(block) - 1)  # the first column is never cut
        widths = [natural[0], *shrink([natural[i] for i in block[1:]], room)]
        numeric = [all(is_number(row[i]) for row in rows) for i in block]
        for row_number, row in enumerate([header, *rows]):
            cells = []
            for i, size, right in zip(block, widths, numeric, strict=True):
                text = cut(row[i], size, keep_end=row_number == 0)  # a header keeps its last (most telling) part
                cells.append(text.rjust(size) if right else text.ljust(size))
            lines.append(GAP.join(cells).rstrip()[:width])
    return lines


def shrink(widths: list[int], room: int) -> list[int]:
    """The widest columns cut to one common cap, the largest that makes them fit in `room` (never below MIN_WIDTH)."""
    if sum(widths) <= room:
        return widths
    cap = max(widths)
    while cap > MIN_WIDTH and sum(min(size, cap) for size in widths) > room:
        cap -= 1
    return [min(size, cap) for size in widths]
