"""Ranged integer types for every integer on the wire.

An unbounded integer from a peer reaches a 32-bit database column (PostgreSQL ``integer``) and
fails there, far from the frame that carried it; these bounds refuse it at validation instead,
with an error that names the field. Counts are never negative.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
# Byte offsets live in 64-bit columns, but browsers read them as JavaScript numbers, which hold
# integers exactly only up to 2**53 - 1.
OFFSET_MAX = 2**53 - 1

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""A signed value such as an exit code (negative: killed by that signal)."""

NonNegInt32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A count, an id such as a pid, a version or an epoch."""

ByteOffset = Annotated[int, Field(ge=0, le=OFFSET_MAX)]
"""A position in a session's output stream."""
