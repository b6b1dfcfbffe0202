"""Control characters in one place: the classes of characters that text from strangers must not
carry into the index or onto a terminal.

Three places refuse them, each with its own set built from the same named ranges; they differ
on purpose, and only as written here:

* ``TEXT_UNSAFE`` (``corpus.decode.clean``, dropped from every article read): C0 controls but
  tab and newline, DEL, C1 controls, lone surrogates. Line breaks are made ``\\n`` first, so a
  ``\\r`` left over is garbage too.
* ``FIELD_UNSAFE`` (``schema.clean_text``, dropped from every value before Whoosh sees it): the
  same without C1 controls, and keeping ``\\r``. Articles from the corpus readers hold neither by
  then; a Document built by a caller is stored with them, and changing this set would change what
  such Documents store.
* ``TERMINAL_UNSAFE`` (``formatting.terminal_safe``, shown escaped as ``\\xNN``, ``\\uNNNN`` or
  ``\\UNNNNNNNN``): ``TEXT_UNSAFE`` plus what changes how a terminal shows the text around it or
  hides text in plain sight: the bidirectional overrides and isolates (``BIDI``) and marks
  (``BIDI_MARKS``: LRM, RLM, ALM), which reorder what a terminal shows; the line and paragraph
  separators (U+2028, U+2029), which some terminals break lines at and others do not, so one
  line could pass for two; and the tag characters (U+E0000-U+E007F), invisible copies of ASCII
  that can smuggle text past a reader. Escaped rather than removed, so what was hidden is seen.
  A lone surrogate from a file name (a byte that is not UTF-8, ``os.fsdecode``'s
  surrogateescape) is shown as that byte, ``\\xe9``.
* ``TERMINAL_HIDDEN`` (``formatting.terminal_safe``, removed): zero-width characters (ZWSP,
  ZWNJ, ZWJ, word joiner, the BOM as zero-width no-break space) and the soft hyphen. They show
  nothing, are common in real text (emoji sequences, Persian, hyphenation hints) and reorder
  nothing, so the terminal gets the text without them; escaping them would litter titles.

File names are not text: a name may hold bytes that are not UTF-8, which ``os.fsdecode`` turns
into lone surrogates (``caf\\xe9.txt`` -> ``'caf\\udce9.txt'``), and Whoosh cannot store those.
``escape_name`` gives such a name a text form that is lossless and unique, used for the ids and
index paths made from file names: each such byte becomes ``\\xNN`` and, so that no other name
can give the same text, a run of backslashes that precedes ``xNN`` (or such a byte) is doubled.
Every other name, including names with other backslashes, is its own text form;
``unescape_name`` gives the name back.

    >>> print(escape_name("caf\\udce9.txt"), escape_name(r"caf\\xe9.txt"), escape_name(r"a\\b.txt"))
    caf\\xe9.txt caf\\\\xe9.txt a\\b.txt
    >>> unescape_name(r"caf\\xe9.txt") == "caf\\udce9.txt"
    True

JSON output is never cleaned: it keeps the text as stored, every non-ASCII character escaped by
``json.dumps(ensure_ascii=True)``.

    >>> TERMINAL_UNSAFE.sub("?", "a\\x1b[31mb\\u202ec\\td\\u200ee")
    'a?[31mb?c\\td?e'
    >>> TERMINAL_HIDDEN.sub("", "soft\\u00adhy\\u200bphen")
    'softhyphen'

Nothing of newsearch is imported here.
"""

from __future__ import annotations

import re

C0_BUT_TAB_LF = "\x00-\x08\x0b-\x1f"  # C0 controls but \t and \n: \r, ESC, BEL, form feed...
C0_BUT_TAB_LF_CR = "\x00-\x08\x0b\x0c\x0e-\x1f"  # the same, \r kept
DEL = "\x7f"
C1 = "\x80-\x9f"  # CSI (\x9b) and the other 8-bit controls
BIDI = "\u202a-\u202e\u2066-\u2069"  # embeddings, overrides and isolates
BIDI_MARKS = "\u200e\u200f\u061c"  # left-to-right, right-to-left and Arabic letter marks
LINE_SEPARATORS = "\u2028\u2029"  # line and paragraph separators
TAGS = "\U000e0000-\U000e007f"  # tag characters: invisible ASCII
ZERO_WIDTH = "\u200b-\u200d\u2060\ufeff"  # zero-width space, non-joiner, joiner; word joiner; ZWNBSP (BOM)
SOFT_HYPHEN = "\u00ad"
LONE_SURROGATES = "\ud800-\udfff"  # no valid str holds one; they cannot be encoded


def character_class(*ranges: str) -> re.Pattern[str]:
    """A pattern matching one character of any of ``ranges`` (the constants above)."""
    return re.compile("[" + "".join(ranges) + "]")


TEXT_UNSAFE = character_class(C0_BUT_TAB_LF, DEL, C1, LONE_SURROGATES)
FIELD_UNSAFE = character_class(C0_BUT_TAB_LF_CR, DEL, LONE_SURROGATES)
TERMINAL_UNSAFE = character_class(C0_BUT_TAB_LF, DEL, C1, BIDI, BIDI_MARKS, LINE_SEPARATORS, TAGS, LONE_SURROGATES)
TERMINAL_HIDDEN = character_class(ZERO_WIDTH, SOFT_HYPHEN)


_NAME_BYTE = "\udc80-\udcff"  # what surrogateescape makes of a byte that is not UTF-8
_ESCAPED_RUN = re.compile(f"(\\\\+)(?=x[0-9a-fA-F]{{2}}|[{_NAME_BYTE}])")
_NAME_BYTES = re.compile(f"[{_NAME_BYTE}]")
_UNESCAPE = re.compile(r"(\\+)(x[0-9a-fA-F]{2})")


_TERMINAL_ESCAPE = re.compile(r"\\(?:x([0-7][0-9a-f])|u([0-9a-f]{4})|U([0-9a-f]{8}))")


def terminal_unescape(text: str) -> str:
    """``text`` with the characters the terminal output shows escaped (``\\u200b``, ``\\x1b``)
    given back; any other backslash sequence (``\\xe9``: a file name's byte) is left as it is.

    >>> terminal_unescape(r"name\u200b\x1b\xe9\u00e9.txt") == "name\u200b\x1b\\xe9\\u00e9.txt"
    True
    """
    def one(match: re.Match[str]) -> str:
        char = chr(int(next(group for group in match.groups() if group), 16))
        return char if TERMINAL_UNSAFE.match(char) or TERMINAL_HIDDEN.match(char) else match.group()
    return _TERMINAL_ESCAPE.sub(one, text)


def escape_name(name: str) -> str:
    """A file name (or path) as text Whoosh can store: bytes that are not UTF-8 as ``\\xNN``,
    lossless and unique (see the module docstring); a UTF-8 name without ``\\xNN`` is unchanged."""
    if "\\" not in name and not _NAME_BYTES.search(name):
        return name
    doubled = _ESCAPED_RUN.sub(lambda match: match.group(1) * 2, name)
    return _NAME_BYTES.sub(lambda match: f"\\x{ord(match.group()) - 0xDC00:02x}", doubled)


def unescape_name(text: str) -> str:
    """The name ``escape_name`` made ``text`` from (bytes that are not UTF-8 as lone surrogates)."""
    def one(match: re.Match[str]) -> str:
        slashes, hex_byte = len(match.group(1)), match.group(2)
        literal = "\\" * (slashes // 2)
        if slashes % 2 == 0:
            return literal + hex_byte
        byte = int(hex_byte[1:], 16)
        return literal + (chr(0xDC00 + byte) if byte >= 0x80 else chr(byte))
    return _UNESCAPE.sub(one, text)
