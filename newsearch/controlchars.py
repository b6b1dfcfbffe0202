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
* ``TERMINAL_UNSAFE`` (``formatting.terminal_safe``, shown escaped): ``TEXT_UNSAFE`` plus the
  bidirectional overrides and isolates, which reorder what a terminal shows.

    >>> TERMINAL_UNSAFE.sub("?", "a\\x1b[31mb\\u202ec\\td")
    'a?[31mb?c\\td'

Nothing of newsearch is imported here.
"""

from __future__ import annotations

import re

C0_BUT_TAB_LF = "\x00-\x08\x0b-\x1f"  # C0 controls but \t and \n: \r, ESC, BEL, form feed...
C0_BUT_TAB_LF_CR = "\x00-\x08\x0b\x0c\x0e-\x1f"  # the same, \r kept
DEL = "\x7f"
C1 = "\x80-\x9f"  # CSI (\x9b) and the other 8-bit controls
BIDI = "\u202a-\u202e\u2066-\u2069"  # embeddings, overrides and isolates
LONE_SURROGATES = "\ud800-\udfff"  # no valid str holds one; they cannot be encoded


def character_class(*ranges: str) -> re.Pattern[str]:
    """A pattern matching one character of any of ``ranges`` (the constants above)."""
    return re.compile("[" + "".join(ranges) + "]")


TEXT_UNSAFE = character_class(C0_BUT_TAB_LF, DEL, C1, LONE_SURROGATES)
FIELD_UNSAFE = character_class(C0_BUT_TAB_LF_CR, DEL, LONE_SURROGATES)
TERMINAL_UNSAFE = character_class(C0_BUT_TAB_LF, DEL, C1, BIDI, LONE_SURROGATES)
