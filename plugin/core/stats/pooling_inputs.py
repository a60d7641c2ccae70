"""What the pooling engine accepts, by name: its methods and the columns of a study-count CSV.

Apart from the engine so that the CLI can build its parser (choices and help) without importing numpy.
"""

from __future__ import annotations

from typing import Literal

Method = Literal["mh", "iv", "dl", "reml"]
METHODS: tuple[Method, ...] = ("mh", "iv", "dl", "reml")
COLUMNS = ("study", "ivig_events", "ivig_total", "control_events", "control_total")
