"""`ivig-cds serve` as it runs, plus one route that fails with patient data in its message and its locals.

Run as `python -m tests.web.failing_server --port N`: the log test needs a real exception on a real server.
"""

from __future__ import annotations

import argparse
import logging.config

from plugin.app import create_app
from plugin.config import get_settings
from plugin.web.logs import log_config
from plugin.web.server import serve

MRN = "MRN-5550123"
TOKEN = "tok-3c9f1e77a0"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    settings = get_settings()
    logging.config.dictConfig(log_config(settings.log_level))
    app = create_app(settings)

    @app.get("/failing", include_in_schema=False)
    def failing() -> None:
        context = {"patientId": MRN, "access_token": TOKEN}
        logging.getLogger("plugin.test").debug("about to fail for %s", context)
        raise RuntimeError(f"could not answer for {context}")

    serve(app, settings, "127.0.0.1", port)


if __name__ == "__main__":
    main()
