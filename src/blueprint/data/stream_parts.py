"""What `blueprint stream` writes: a data module cuts each split into parts, and each part yields its samples.

Parts are plain picklable objects: litdata.optimize hands them to its writer processes, which call `samples()`.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

ROWS_PER_PART = 1024  # samples one part writes: parts are what litdata.optimize's progress bar counts


class StreamPart(Protocol):
    """`count` samples, each a tuple of tensors (inputs first), yielded by `samples()` in a writer process."""

    @property
    def count(self) -> int: ...

    def samples(self) -> Iterator[tuple[Tensor, ...]]: ...


@dataclass(frozen=True)
class Rows:
    """Samples start..stop-1 of one split held in memory."""

    tensors: tuple[Tensor, ...]
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start

    def samples(self) -> Iterator[tuple[Tensor, ...]]:
        for index in range(self.start, self.stop):
            yield tuple(t[index].clone() for t in self.tensors)  # a view would serialize its whole storage
