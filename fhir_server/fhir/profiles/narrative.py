"""``htmlChecks()``: the R4 rules for narrative XHTML (https://hl7.org/fhir/R4/narrative.html).

Narrative.div carries two invariants with the same expression ``htmlChecks()``; the validator
evaluates each for what its text says:

- ``txt-1`` (:func:`allowed_xhtml`): the content is well-formed XML, a ``div`` in the XHTML
  namespace at the root, every element in that namespace and among the basic formatting
  elements of HTML 4.0 (chapters 7-11 and 15: headings, paragraphs, phrase elements, lists,
  tables, ``a``, ``img``...), every attribute allowed on it (the common ones — ``id``,
  ``class``, ``style``, ``title``, ``lang``, ``dir`` — the table attributes, ``a.href``,
  ``img.src``...). Hence no ``head``/``body``, scripts, forms, ``base``/``link``, frames,
  iframes, objects, event attributes (``onclick``...), and no ``javascript:`` URL;
- ``txt-2`` (:func:`has_content`): some non-whitespace text (or an image).

``htmlChecks()`` itself (:func:`html_checks`) is both, for other invariants that call it.

The XML is parsed with the standard library's expat with a document type declaration, any
entity declaration, external entity or processing instruction refused (no entity expansion
attack, no fetch); an undefined entity such as ``&nbsp;`` is an XML error, as in FHIR's XML.
The element and attribute lists follow the HL7 validator's (InstanceValidator.checkInnerNames).
"""

from __future__ import annotations

from functools import lru_cache
from xml.parsers import expat

XHTML = "http://www.w3.org/1999/xhtml"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ELEMENTS = frozenset(
    {
        "div", "span", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "address", "bdo",
        "a", "img", "map", "area",
        "b", "i", "u", "s", "em", "strong", "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym",
        "cite", "blockquote", "kbd", "sub", "sup", "code", "samp", "pre", "ins", "del",
        "ul", "ol", "li", "dl", "dt", "dd",
        "table", "caption", "colgroup", "col", "thead", "tfoot", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ATTRIBUTES = frozenset(
    {
        "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex",
        "span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope",
        "rowspan", "colspan",
    }
)  # fmt: skip
ELEMENT_ATTRIBUTES = frozenset(
    {
        "a.href", "a.name", "a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords",
        "img.src", "img.alt", "img.border", "img.longdesc", "img.height", "img.width", "img.usemap", "img.ismap",
        "map.name", "area.shape", "area.coords", "area.href", "area.nohref", "area.alt",
        "blockquote.cite", "q.cite", "ins.cite", "del.cite", "ins.datetime", "del.datetime",
        "table.summary", "table.width", "table.border", "table.frame", "table.rules",
        "table.cellspacing", "table.cellpadding", "pre.space", "ol.start", "ol.type", "ul.type", "li.value",
    }
)  # fmt: skip
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "usemap"})


class _Refused(Exception):
    """A construct narrative XHTML may not contain (doctype, entity declaration, PI...)."""


class _Scan:
    """One parse: whether every element and attribute is allowed, and whether there is content."""

    def __init__(self) -> None:
        self.depth = 0
        self.allowed = True
        self.content = False

    def start(self, name: str, attributes: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        if ns != XHTML or local not in ELEMENTS or (self.depth == 0 and local != "div"):
            self.allowed = False
        if local == "img":
            self.content = True
        for attribute, value in attributes.items():
            a_ns, _, a_local = attribute.rpartition(" ")
            key = "xml:" + a_local if a_ns == XML_NS else a_local
            if a_ns not in ("", XML_NS) or (key not in ATTRIBUTES and f"{local}.{key}" not in ELEMENT_ATTRIBUTES):
                self.allowed = False
            elif key in URL_ATTRIBUTES and value.strip().lower().replace("\t", "").startswith(
                ("javascript:", "vbscript:")
            ):
                self.allowed = False
        self.depth += 1

    def end(self, name: str) -> None:
        self.depth -= 1

    def text(self, data: str) -> None:
        if not data.isspace():
            self.content = True


def _refuse(*_: object) -> None:
    raise _Refused


@lru_cache(maxsize=8)  # txt-1 and txt-2 scan the same div one after the other
def scan(div: str) -> tuple[bool, bool]:
    """(txt-1 holds, txt-2 holds) for an XHTML fragment; (False, False) if it does not parse."""
    scanner = _Scan()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.ProcessingInstructionHandler = _refuse
    parser.StartElementHandler = scanner.start
    parser.EndElementHandler = scanner.end
    parser.CharacterDataHandler = scanner.text
    try:
        parser.Parse(div, True)
    except (expat.ExpatError, _Refused, ValueError):
        return False, False
    return scanner.allowed, scanner.content


def allowed_xhtml(value: object) -> bool:
    """txt-1."""
    return not isinstance(value, str) or scan(value)[0]


def has_content(value: object) -> bool:
    """txt-2."""
    return not isinstance(value, str) or scan(value)[1]


def html_checks(inputs: list[object]) -> list[bool]:
    """The FHIRPath function: true when the single xhtml input meets both rules; empty otherwise."""
    if len(inputs) != 1 or not isinstance(inputs[0], str):
        return []
    return [all(scan(inputs[0]))]
