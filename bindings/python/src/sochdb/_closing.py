"""The ``with`` protocol shared by the objects that own one library handle."""

from __future__ import annotations

from types import TracebackType
from typing import Optional, Type, TypeVar

__all__ = ["Closing"]

_T = TypeVar("_T", bound="Closing")


class Closing:
    """A ``with`` block over a subclass closes it on the way out, whatever happened in
    the block. Subclasses define :meth:`close`."""

    __slots__ = ()

    def close(self) -> None:  # pragma: no cover - every subclass defines it
        raise TypeError(f"{type(self).__name__} does not define close()")

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
