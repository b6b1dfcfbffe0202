"""An id as `search` shows it is one `show` finds (issue #13, items 8 and 12 together).

Found by tests/reliability_trials_limits.py (item 12): the terminal text drops zero-width
characters and soft hyphens (``controlchars.TERMINAL_HIDDEN``), ids included, so a file named
``name<U+200B>.txt`` is listed as ``name.txt``: `show name.txt`, the id "as shown by `search`",
answers "no document with id", and beside a real ``name.txt`` the two ids look the same. Ids
must stay lossless on a terminal (shown escaped, as the other invisible characters are), and
`show` takes them as shown (formatting.terminal_name, controlchars.terminal_unescape).
"""

from __future__ import annotations

import re

import pytest
from support.corpora import write_article
from support.processes import invoke_cli

from newsearch import build_index


@pytest.mark.parametrize("hidden", ["\u200b", "\u00ad", "\ufeff"], ids=["zero-width space", "soft hyphen", "BOM"])
def test_each_id_search_shows_is_one_show_finds(tmp_path, hidden):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    write_article(corpus, f"name{hidden}.txt", "Heron one", "The heron waits by the river.")
    write_article(corpus, "name.txt", "Heron two", "A kingfisher steals from the heron's nest at dawn near the mill.")
    build_index([corpus], index)
    listed = invoke_cli("search", "heron", "--index", str(index), "--color", "never")
    assert listed.returncode == 0, listed
    shown = re.findall(r"corpus \u00b7 (\S+)$", listed.stdout, re.MULTILINE)
    assert len(shown) == 2 and len(set(shown)) == 2, listed.stdout
    titles = set()
    for doc_id in shown:
        found = invoke_cli("show", doc_id, "--index", str(index), "--no-pager")
        assert found.returncode == 0, (doc_id, found.stderr)
        titles.add(found.stdout.splitlines()[0])
    assert titles == {"Heron one", "Heron two"}
