"""Reading a ``multipart/form-data`` body (RFC 7578) without python-multipart.

Starlette's ``request.form()`` needs python-multipart, which Patter does not depend on; the
fake reads the few fields an upload carries with this instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

__all__ = ["Part", "parse_form"]


@dataclass(frozen=True)
class Part:
    """One form field: its ``name``, ``filename`` and ``content_type`` (files), and bytes."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str = ""


def parse_form(content_type: str, body: bytes) -> list[Part]:
    """The fields of ``body``; raises ``ValueError`` when it is not well-formed multipart."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        raise ValueError("not a multipart/form-data body with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise ValueError("the multipart body has no closing boundary")
    parts = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n") or not section.endswith(b"\r\n"):
            raise ValueError("a multipart section is not framed by CRLF")
        head, sep, data = section[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a multipart section has no blank line after its headers")
        fields = Message()
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, value = line.partition(":")
            if colon:
                fields[key.strip()] = value.strip()
        name = fields.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ValueError("a multipart section has no field name")
        filename = fields.get_param("filename", header="content-disposition")
        parts.append(
            Part(
                name=name,
                data=data,
                filename=filename if isinstance(filename, str) else None,
                content_type=fields.get("content-type", ""),
            )
        )
    return parts
