"""`ivig-cds serve` on uvicorn's pure-Python h11 parser, as it runs where httptools is not installed.

Run as `python -m tests.web.serve_h11 serve --host 127.0.0.1 --port N`: the head-limit tests need both parsers
behind the real command.
"""

from __future__ import annotations

import sys

sys.modules["httptools"] = None  # type: ignore[assignment]  # importing it now fails, as on an install without it

from plugin.cli import main  # noqa: E402  # after the line above, so uvicorn and the server see no httptools

if __name__ == "__main__":
    raise SystemExit(main())
