"""A small DOM reader for the report's tests: every element's tag, attributes and text."""

from html.parser import HTMLParser
from typing import Any

VOID = {"meta", "img", "br", "input", "link", "hr"}
"""HTML elements without an end tag (SVG's self-closed ones end themselves)."""


class Element:
    def __init__(self, tag: str, attrs: dict[str, Any], parent: "Element | None") -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.text = ""

    def find_all(self, tag: str, **attrs: str) -> list["Element"]:
        """The elements below this one with ``tag`` whose attributes hold ``attrs``
        (``class_`` for class: one of its classes)."""
        found = []
        for child in self.children:
            if child.tag == tag and all(_matches(child, k, v) for k, v in attrs.items()):
                found.append(child)
            found += child.find_all(tag, **attrs)
        return found

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)


def _matches(e: Element, key: str, value: str) -> bool:
    if key == "class_":
        return value in (e.attrs.get("class") or "").split()
    return e.attrs.get(key.replace("_", "-")) == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.at = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        e = Element(tag, dict(attrs), self.at)
        self.at.children.append(e)
        if tag not in VOID:
            self.at = e

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.at.children.append(Element(tag, dict(attrs), self.at))

    def handle_endtag(self, tag: str) -> None:
        e: Element | None = self.at
        while e is not None and e.tag != tag:
            e = e.parent
        assert e is not None and e.parent is not None, f"</{tag}> closes no open element"
        assert e is self.at, f"</{tag}> closes <{e.tag}> with <{self.at.tag}> still open"
        self.at = e.parent

    def handle_data(self, data: str) -> None:
        self.at.text += data


def parse(html: str) -> Element:
    """The element tree of ``html``; AssertionError on a badly nested end tag."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.at is builder.root, f"<{builder.at.tag}> is never closed"
    return builder.root
