"""The HTTP front-end of ``newsearch serve``: a JSON API and one static search page (``app``), its
query parameters (``parameters``), their OpenAPI description (``openapi``) and the server (``server``).

Needs the ``web`` extra (``pip install 'newsearch[web]'``); the rest of newsearch never imports it.
"""
