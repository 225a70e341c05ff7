"""With PROMETHEUS_MULTIPROC_DIR shared, /metrics of one process reports events counted in others (the
Celery workers); the variable must be set before prometheus-client is imported, hence fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

WORKER = """
from dispatch.core import metrics
metrics.COURIER_ERRORS.labels("gosend", "book", "5xx").inc()
metrics.SMS_FAILURES.labels("twilio", "failed").inc(2)
"""
SCRAPE = """
from prometheus_client import generate_latest
from dispatch.core.metrics import build_registry
print(generate_latest(build_registry()).decode())
"""


def _python(code: str, multiproc_dir: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": multiproc_dir}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_events_of_every_process_are_summed(db, tmp_path):
    for _worker in range(2):
        _python(WORKER, str(tmp_path))

    text = _python(SCRAPE, str(tmp_path))

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    courier = (("courier", "gosend"), ("operation", "book"), ("type", "5xx"))
    assert samples[("gancang_courier_errors_total", courier)] == 2.0
    assert samples[("gancang_sms_failures_total", (("gateway", "twilio"), ("reason", "failed")))] == 4.0
    assert samples[("gancang_metrics_source_up", (("source", "database"),))] == 1.0  # state still from the DB
