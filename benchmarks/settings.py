"""Settings for benchmark runs: the test settings, but shaped like production where it changes timings.

The test settings close the database connection after every request (CONN_MAX_AGE = 0) so that
tests never leak connections; production keeps connections open, and so must a benchmark of
server time, or every measured request would pay for a new PostgreSQL connection.
"""

from __future__ import annotations

import warnings

from crm.settings.test import *  # noqa: F403
from crm.settings.test import DATABASES, LOGGING

DEBUG = False
DATABASES["default"]["CONN_MAX_AGE"] = 600
# Deliveries must go through a real worker, never run inline in the emitting process.
CELERY_TASK_ALWAYS_EAGER = False
LOGGING["root"]["level"] = "WARNING"

# WhiteNoise warns once per process when collectstatic has not run; benchmarks never serve static files.
warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers.base")
