"""The base of every WebSocket frame."""

from __future__ import annotations

import base64
import binascii
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, field_validator

from orchestratia.protocol.rest import reject_nul


class Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    _no_nul = field_validator("*")(reject_nul)


def frame_classes(union: Any) -> tuple[type[Frame], ...]:
    """The frame classes of a discriminated union, ``Annotated[A | B, Field(discriminator=…)]``."""
    members, _discriminator = get_args(union)
    return get_args(members)


def frame_type(cls: type[BaseModel]) -> str:
    """The ``type`` value a frame class is discriminated on."""
    (name,) = get_args(cls.model_fields["type"].annotation)
    return str(name)


def dump(frame: BaseModel) -> str:
    """Serialize a frame for the wire."""
    return frame.model_dump_json()


def as_dict(frame: BaseModel) -> dict[str, Any]:
    return frame.model_dump(mode="json")


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict base64 (raises ValueError on garbage) so corrupt input never reaches a terminal."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("data is not valid base64") from exc
