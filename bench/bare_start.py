"""The cold-start baselines for `ivig-cds serve` and `ivig-cds ask`: what any Python service or CLI over the same
profile model pays before its first answer (interpreter, FastAPI or argparse, pydantic), and nothing more.

`uvicorn --factory bench.bare_start:echo_app` is the bare HTTP service; `python -m bench.bare_start --nk-cell-percent
14 ...` the bare CLI, which validates the profile and prints it as JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fastapi import FastAPI

from plugin.core.rules.profile import PatientProfile

ANSWER_PATH = "/v1/answer"


def echo_app() -> FastAPI:
    """The smallest FastAPI app answering POST /v1/answer with a validated PatientProfile body."""
    app = FastAPI()

    @app.post(ANSWER_PATH)
    def post_answer(profile: PatientProfile) -> PatientProfile:
        return profile

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bare-ask")
    parser.add_argument("--prior-pregnancy-losses", type=int)
    parser.add_argument("--nk-cell-percent", type=float)
    parser.add_argument("--ivig-start")
    args = parser.parse_args(argv)
    fields = {name: value for name, value in vars(args).items() if value is not None}
    print(PatientProfile.model_validate(fields).model_dump_json(indent=2))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
