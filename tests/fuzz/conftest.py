"""Hypothesis profiles for the fuzz tests: ``dev`` (default) for a quick local run, ``ci`` for CI.

``HYPOTHESIS_PROFILE=ci`` derandomizes (a CI failure replays on every run) and tries more examples; neither
keeps an example database, so no ``.hypothesis/`` directory appears in the working tree.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
