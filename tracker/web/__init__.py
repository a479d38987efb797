"""The live page: a read-only web server with a JSON API and server-sent events.

``api.py`` answers the JSON API from the store, ``events.py`` fans new ticks and
alerts out to connected pages, ``server.py`` is the HTTP server, ``static/`` the page.
"""

DEFAULT_ADDRESS = "127.0.0.1:8080"  # where the page is served unless ``--web`` says otherwise
