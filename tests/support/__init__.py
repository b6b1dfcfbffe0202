"""Helpers the tests share, one module per concern.

* ``corpora``: fixture corpora the tests write themselves (and reading one file back).
* ``processes``: ``python -m newsearch`` in a real child process, and its workers from /proc.
* ``privileges``: children for which file permissions apply even when the tests run as root.
* ``readers``: an index's state read directly, behind the API's back (stored documents, footprint).

Session-scoped fixture indexes built from these live in ``tests/conftest.py``.
"""
