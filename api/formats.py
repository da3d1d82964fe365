"""Open311 speaks JSON and XML alike: one renderer turns the same data into both.

The XML follows the GeoReport v2 shapes: a root element (``services``,
``service_requests``, ``errors``…), one child per list item (``service``,
``request``, ``error``…), one element per field; ``None`` is an empty element,
booleans are ``true``/``false``, lists of values nest as the spec shows.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

# Child element names of lists inside items (attributes → attribute, values → value).
ITEM_NAMES = {"attributes": "attribute", "values": "value"}


def _fill(parent: ET.Element, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif isinstance(value, dict):
        for key, inner in value.items():
            _fill(ET.SubElement(parent, key), inner)
    elif isinstance(value, list):
        child = ITEM_NAMES.get(parent.tag, "item")
        for inner in value:
            _fill(ET.SubElement(parent, child), inner)
    else:
        parent.text = _clean(str(value))


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters; drop them rather than emit
    a document no parser accepts."""
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 32)


def xml_document(root: str, item: str | None, data: Any) -> bytes:
    element = ET.Element(root)
    if item is None:
        _fill(element, data)
    else:
        for entry in data:
            _fill(ET.SubElement(element, item), entry)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def respond(fmt: str, data: Any, root: str, item: str | None, status: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(body=xml_document(root, item, data), status=status,
                            content_type="application/xml", charset="utf-8")
    return web.Response(text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json")


def errors(fmt: str, status: int, messages: list[str]) -> web.Response:
    """The spec's error form: a list of ``{code, description}``."""
    data = [{"code": status, "description": m} for m in messages]
    return respond(fmt, data, "errors", "error", status)
