"""Settings shared by every environment. Everything that differs comes from environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit

import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from crm.lib.csp import DEFAULT as CSP_DEFAULT
from crm.lib.dburl import check_redis_url, database_from_url
from crm.lib.public_url import PublicUrlError, public_url_from_env
from plumbing.languages import LANGUAGE_CODE, LANGUAGE_NAMES  # noqa: F401  (LANGUAGE_CODE is a setting)

# Django's generic classes (fields, Paginator, ModelAdmin...) accept type arguments at run time as
# django-stubs declares them, e.g. `class CappedPaginator(Paginator[Any])`: switched on here, before
# the apps (and any module of the CRM that defines such a class) are loaded.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("CRM_VAR_DIR", BASE_DIR / "var"))


@overload
def env(name: str, default: str) -> str: ...
@overload
def env(name: str, default: None = None) -> str | None: ...
def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (got {value!r}).")


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number (got {value!r}).") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    return default if value is None else [v.strip() for v in value.split(",") if v.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "guardian",
    "simple_history",
    "django_rq",
    "ninja",
    # domain apps, lowest layer first (see DESIGN.md)
    "crm.apps.CrmConfig",
    "emails.apps.EmailsConfig",
    "automation.apps.AutomationConfig",
    "trading.apps.TradingConfig",
    "kyc.apps.KycConfig",
    "leads.apps.LeadsConfig",
    "wallet.apps.WalletConfig",
    "ib.apps.IbConfig",
    "compliance.apps.ComplianceConfig",
    "monitoring.apps.MonitoringConfig",
    "monitoring.review.apps.MonitoringReviewConfig",
    "support.apps.SupportConfig",
    "marketing.apps.MarketingConfig",
    "portal.apps.PortalConfig",
    "reports.apps.ReportsConfig",
    "integrations.apps.IntegrationsConfig",
    # the demo brokerage, built through the apps above (manage.py seed_demo)
    "demo.apps.DemoConfig",
]

MIDDLEWARE = [
    "crm.lib.middleware.HeaderScrubMiddleware",
    "crm.lib.middleware.RequestIdMiddleware",
    "crm.metrics.MetricsMiddleware",
    "crm.dbrouter.ReplicaMiddleware",
    "crm.middleware.UnstorableTextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "crm.lib.middleware.UserLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "crm.lib.middleware.IdleTimeoutMiddleware",
    "crm.lib.middleware.ActorContextMiddleware",
    "crm.lib.middleware.TwoFactorRequiredMiddleware",
    "crm.middleware.StaffRestrictionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "crm.lib.middleware.UserTimezoneMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
ASGI_APPLICATION = "crm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.navigation",
            ],
        },
    },
]

# --- data stores -------------------------------------------------------------------------------
if not env("DATABASE_URL") or not env("REDIS_URL"):
    if env_bool("CRM_ALLOW_EMBEDDED", True):
        from plumbing.embedded import ensure_services

        ensure_services()
    else:
        missing = [n for n in ("DATABASE_URL", "REDIS_URL") if not env(n)]
        raise ImproperlyConfigured(f"{', '.join(missing)} must be set (embedded services are off here).")

DATABASE_URL = env("DATABASE_URL", "")
REDIS_URL = check_redis_url(env("REDIS_URL", "") or "")
DATABASES = {"default": database_from_url(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
# A streaming read replica (crm/dbrouter.py): dashboards, reports and lists read from it while it is
# caught up; a user's own writes are read back from the primary. Tests mirror it onto the primary.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = database_from_url(DATABASE_REPLICA_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
                                             variable="DATABASE_REPLICA_URL")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["crm.dbrouter.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 5)
REPLICA_LAG_CHECK_SECONDS = env_int("REPLICA_LAG_CHECK_SECONDS", 2)
# GET pages whose reads may come from the replica (by URL name), besides views marked @replica_reads.
REPLICA_READ_VIEWS = ("reports_dashboard", "reports_drill", "reports_list", "reports_report", "client_list",
                      "compliance_dashboard")
# Statements the code asks to prepare (execute(..., prepare=True): the ledger's posting path) are
# prepared once per connection; nothing else is (the threshold is never reached). Django leaves
# preparing off for connection poolers: set DATABASE_PREPARED_STATEMENTS=0 behind one that cannot
# carry prepared statements (PgBouncer in transaction mode before 1.21, or without
# max_prepared_statements).
_db_options = DATABASES["default"]["OPTIONS"]
if "prepare_threshold" in _db_options:  # given in DATABASE_URL's query: a whole number, or "none"
    _threshold = str(_db_options["prepare_threshold"]).strip().lower()
    if _threshold not in {"", "none"} and not _threshold.isdigit():
        raise ImproperlyConfigured(f"DATABASE_URL: prepare_threshold must be a whole number or none "
                                   f"(got {_threshold!r}).")
    _db_options["prepare_threshold"] = int(_threshold) if _threshold.isdigit() else None
elif env_bool("DATABASE_PREPARED_STATEMENTS", True):
    _db_options["prepare_threshold"] = 2**31 - 1
# The schema's owner, for migrations (crm.lib.dbroles): the application's role then may only read
# and append to the audit log. Unset: the application's role owns everything (audit_verify warns).
DATABASE_OWNER_URL = env("DATABASE_OWNER_URL", "")
CRM_DATABASE_APP = {k: DATABASES["default"][k] for k in ("USER", "PASSWORD", "HOST", "PORT")}
CRM_DATABASE_APP["OPTIONS"] = dict(DATABASES["default"]["OPTIONS"])
CRM_DATABASE_OWNER = database_from_url(DATABASE_OWNER_URL, variable="DATABASE_OWNER_URL") if DATABASE_OWNER_URL else None
if CRM_DATABASE_OWNER and not CRM_DATABASE_APP["USER"]:
    raise ImproperlyConfigured("DATABASE_URL must name its user when DATABASE_OWNER_URL is set (the role to grant to).")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "crm",
    }
}

# --- Content-Security-Policy ----------------------------------------------------------------------
# Every page: no inline script or style, everything from this origin (crm/lib/csp.py, which also
# lists the pages that need another policy and why). LEAD_FORM_FRAME_ANCESTORS: the sites allowed to
# embed the public lead form in an iframe (space-separated origins; "*" for any site).
SECURE_CSP = CSP_DEFAULT
LEAD_FORM_FRAME_ANCESTORS = (env("LEAD_FORM_FRAME_ANCESTORS") or "*").split()

# --- auth --------------------------------------------------------------------------------------
AUTH_USER_MODEL = "crm.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Idle timeout: a session with no user action for this long is logged out (background polls don't count).
SESSION_IDLE_TIMEOUT = timedelta(minutes=env_int("SESSION_IDLE_MINUTES", 30))
SESSION_COOKIE_AGE = env_int("SESSION_MAX_HOURS", 12) * 3600

# A "forgot password" link works once, for this long after it was sent (Django's token generator
# reads PASSWORD_RESET_TIMEOUT, in seconds).
PASSWORD_RESET_MINUTES = env_int("PASSWORD_RESET_MINUTES", 30)
if PASSWORD_RESET_MINUTES < 1:
    raise ImproperlyConfigured(f"PASSWORD_RESET_MINUTES must be 1 or more (got {PASSWORD_RESET_MINUTES}).")
PASSWORD_RESET_TIMEOUT = PASSWORD_RESET_MINUTES * 60

AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "crm.lib.middleware.client_ip"  # the proxy's X-Forwarded-For, if trusted
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "crm.views.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "crm/auth/locked_out.html"
# Renders the template above with the exact time the lockout ends.
AXES_LOCKOUT_CALLABLE = "crm.views.auth.lockout_response"
# The lockout runs from the last counted failure; attempts during it are refused without extending
# it, so someone hammering a colleague's email cannot keep them locked out for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True

OTP_TOTP_ISSUER = env("OTP_ISSUER", "Brokerage CRM")
# Wrong codes back off exponentially per device: 1 s, 2 s, 4 s, ... after each consecutive failure.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False
ANONYMOUS_USER_NAME = None

# --- i18n / time -------------------------------------------------------------------------------
LANGUAGES = [(code, _(name)) for code, name in LANGUAGE_NAMES]  # LANGUAGE_CODE ("en") is imported with them
LOCALE_PATHS = [BASE_DIR / "locale"]
# Day-first dates and a 24-hour clock for English (crm/formats/en), not Django's US formats; plumbing/formats: amounts grouped in every language.
FORMAT_MODULE_PATH = ["crm.formats", "plumbing.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- static ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded files (settlement files, banners, statements): on a volume the web, Celery and RQ workers share.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")

# --- email -------------------------------------------------------------------------------------
# Django 6.1 mailers. The environment keeps the familiar EMAIL_* names.
EMAIL_BACKEND_PATH = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend") or ""


def smtp_options() -> dict[str, object]:
    return {
        "host": env("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env("EMAIL_HOST_USER", ""),
        "password": env("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "use_ssl": env_bool("EMAIL_USE_SSL", False),
        "timeout": env_int("EMAIL_TIMEOUT", 10),
    }


if env_bool("EMAIL_USE_TLS", False) and env_bool("EMAIL_USE_SSL", False):
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be true.")
MAILERS = {
    "default": {
        "BACKEND": EMAIL_BACKEND_PATH,
        "OPTIONS": smtp_options() if EMAIL_BACKEND_PATH.endswith("smtp.EmailBackend") else {},
    }
}
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "crm@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Celery / RQ -------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The queue tasks go to unless routed elsewhere (the workers read it with --queues); two CRMs sharing one
# Redis keep their work apart with different names.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")  # beat's last-run times
# Workload queues (crm/queues.py): each kind of background work on queues of its own, so that workers on
# other machines can serve some of them only. Off: every task on the default queue.
CELERY_WORKLOAD_QUEUES = env_bool("CELERY_WORKLOAD_QUEUES", True)
CELERY_TASK_ROUTES = ("crm.queues.route_task",)
# One beat sends at a time, however many run (crm/beat.py): the others wait on standby.
CELERY_BEAT_SCHEDULER = "crm.beat:GuardedScheduler"
CELERY_BEAT_SCHEDULE = {
    "events-dispatch-pending": {"task": "crm.tasks.events_dispatch_pending", "schedule": 5.0},
    "events-retry-due": {"task": "crm.tasks.events_retry_due", "schedule": 30.0},
    # Monthly partitioned history (crm.lib.partitions): next months' partitions exist before they are needed.
    "partitions-ahead": {"task": "crm.tasks.partitions_ahead", "schedule": crontab(hour=0, minute=25)},
    # Monthly: the months past their table's retention archived to files and dropped (crm.lib.partitions).
    "partitions-archive": {"task": "crm.tasks.partitions_archive",
                           "schedule": crontab(day_of_month=2, hour=1, minute=40)},
    "tasks-send-reminders": {"task": "crm.tasks.task_reminders_send", "schedule": 60.0},
    "automation-tick": {"task": "crm.automation.automation_tick", "schedule": 60.0},
    "leads-sla-sweep": {"task": "leads.tasks.lead_sla_sweep", "schedule": 60.0},
    # Support: tickets warned before their SLA is due, breached and escalated past it (support.sla_services).
    "support-sla-sweep": {"task": "support.tasks.sla_sweep", "schedule": 60.0},
    "marketing-campaigns-start-due": {"task": "marketing.tasks.campaigns_start_due", "schedule": 60.0},
    # Leads queued while nobody was on shift go to the first agent who is (leads.services.queue).
    "leads-queue-route": {"task": "leads.tasks.lead_queue_route", "schedule": 60.0},
    # Support: each active IMAP mailbox read for new mail, one task per mailbox (support.imap).
    "support-mail-poll": {"task": "support.tasks.mail_poll_due", "schedule": 60.0},
    "heartbeat-beat": {"task": "crm.tasks.beat_heartbeat", "schedule": 30.0},
    # Background jobs (django-rq) whose worker died are shown failed (crm.jobs).
    "jobs-sweep": {"task": "crm.tasks.jobs_sweep", "schedule": 60.0},
    "audit-verify-nightly": {"task": "crm.tasks.audit_verify_chain", "schedule": crontab(hour=2, minute=30)},
    # Audit rows are written unchained and sealed into the chain here, in batches (crm.audit).
    "audit-seal": {"task": "crm.tasks.audit_seal", "schedule": 10.0},
    # The chain's head, signed, every few minutes: removing the newest rows then shows (crm.audit).
    "audit-checkpoint": {"task": "crm.tasks.audit_checkpoint", "schedule": 300.0},
    # Trading: the fan-out tasks poll each server only when its own interval is due.
    "trading-deals-sync": {"task": "trading.tasks.deals_sync_due", "schedule": 5.0},
    "trading-account-states-sync": {"task": "trading.tasks.account_states_sync_due", "schedule": 10.0},
    "trading-balance-resolve": {"task": "trading.tasks.balance_operations_resolve_due", "schedule": 30.0},
    # Prop challenges left "opening" by a platform failure or a lost answer: tried again, an account size
    # of unknown outcome looked up by its reference, never sent twice (trading.prop).
    "trading-challenges-open": {"task": "trading.tasks.challenges_open_due", "schedule": 60.0},
    # Verified clients waiting for a live server (none when they were approved) get their first live
    # account once the brand has one; a saved server does it at once (portal.handlers).
    "portal-first-live-accounts": {"task": "portal.tasks.first_live_accounts_due", "schedule": 300.0},
    "trading-account-closes-resume": {"task": "trading.tasks.account_closes_resume", "schedule": 900.0},
    "trading-sync-health": {"task": "trading.tasks.sync_health_check", "schedule": 60.0},
    "trading-reconcile-nightly": {"task": "trading.tasks.deals_reconcile_all", "schedule": crontab(hour=3, minute=15)},
    "trading-password-links-purge": {"task": "trading.tasks.password_links_purge", "schedule": 600.0},
    # The retention read model's drops whose 30-day window lost its peak (trading.summaries); the
    # page does it too, this keeps its first view after midnight quick.
    "trading-retention-expire": {"task": "trading.tasks.retention_expire", "schedule": 600.0},
    # KYC: warn before documents run out, expire verifications on the day (idempotent).
    "kyc-expiry-daily": {"task": "kyc.tasks.kyc_expiry_run", "schedule": crontab(hour=4, minute=10)},
    # KYC: external vendors' results whose webhook did not come are looked up; unsent checks sent again.
    "kyc-vendor-checks-resolve": {"task": "kyc.tasks.vendor_checks_resolve_due", "schedule": 60.0},
    # Compliance: every client against every list, once a day (a list load re-screens its changes at once).
    "monitoring-budgets-calibrate": {"task": "monitoring.review.tasks.budgets_calibrate",
                                     "schedule": crontab(hour=5, minute=10)},
    "compliance-rescreen-daily": {"task": "compliance.tasks.screening_rescreen_daily",
                                  "schedule": crontab(hour=4, minute=40)},
    # Compliance: the retention schedule (compliance.retention) removes what passed its time, daily.
    "compliance-retention": {"task": "compliance.tasks.retention_run_daily", "schedule": crontab(hour=3, minute=5)},
    # Wallet: deposits stuck open are looked up at their provider, and expired after WALLET_DEPOSIT_EXPIRY_MINUTES.
    "wallet-deposits-refresh": {"task": "wallet.tasks.deposits_refresh_due", "schedule": 120.0},
    # Wallet: payment notifications stored and not yet applied (a queued run lost, one that failed).
    "wallet-webhook-batches-sweep": {"task": "wallet.tasks.webhook_batches_sweep", "schedule": 30.0},
    # Partner commissions: the daily incremental run of the open period(s) (ib.tasks).
    "ib-commissions-daily": {"task": "ib.tasks.commissions_daily", "schedule": crontab(hour=3, minute=45)},
    # Reporting hub: the days whose deals the sync changed, recomputed; the last 35 days rebuilt nightly;
    # scheduled reports sent (reports.readmodel, reports.delivery).
    "reports-deals-refresh": {"task": "reports.tasks.deals_refresh", "schedule": 60.0},
    # After the partners' commission run (ib-commissions-daily), whose lines the rebuild reads.
    "reports-rebuild-nightly": {"task": "reports.tasks.rebuild_nightly", "schedule": crontab(hour=4, minute=20)},
    "reports-schedules-send": {"task": "reports.tasks.schedules_send_due", "schedule": crontab(minute=20)},
    # ... and the current month every few minutes, so new deals show as commission lines soon.
    "ib-commissions-live": {"task": "ib.tasks.commissions_live", "schedule": 300.0},
    # Partner settlement: closed periods settled on each partner's schedule and posted to the ledger,
    # after the daily run has brought them up to date (ib.settlement).
    "ib-settlements-due": {"task": "ib.tasks.settlements_due", "schedule": crontab(hour=4, minute=30)},
    # Wallet: payouts whose answer was lost are looked up by our reference, never sent again blindly.
    "wallet-withdrawals-resolve": {"task": "wallet.tasks.withdrawals_resolve_due", "schedule": 60.0},
    # Reconciliation: settlement lines missing in the ledger matched again once late webhooks came in,
    # and every live trading account's balance deals against its ledger mirror, after the nightly deal
    # reconciliation (wallet.reconciliation; both find nothing new when run twice).
    "wallet-recon-rematch-nightly": {"task": "wallet.tasks.settlement_rematch_open",
                                     "schedule": crontab(hour=2, minute=50)},
    "wallet-platform-reconcile-daily": {"task": "wallet.tasks.platform_reconcile",
                                        "schedule": crontab(hour=3, minute=40)},
    # Partner postbacks: retries whose pause is over, and first tries whose kick was lost (ib.postbacks).
    "ib-postbacks-retry-due": {"task": "ib.tasks.postbacks_retry_due", "schedule": 30.0},
    # Outbound webhooks: retries whose pause is over and sends whose kick was lost; subscribers
    # failing for CRM_WEBHOOK_PAUSE_AFTER_HOURS paused (integrations.services).
    "crm-webhooks-send-due": {"task": "integrations.tasks.webhooks_send_due", "schedule": 5.0},
    "crm-webhooks-pause-failing": {"task": "integrations.tasks.webhooks_pause_failing", "schedule": 600.0},
    # Compliance: clients of a sanctioned jurisdiction restricted (also one whose start date came), the
    # officers told; restrictions past their end date closed (compliance.jurisdictions, .restrictions).
    "compliance-jurisdictions-enforce": {"task": "compliance.tasks.jurisdictions_enforce", "schedule": 3600.0},
    # AML monitoring: the rules over the ledger postings recorded since the previous pass (compliance.aml).
    "compliance-aml-pass": {"task": "compliance.tasks.aml_pass", "schedule": 300.0},
    "compliance-restrictions-expire": {"task": "compliance.tasks.restrictions_expire", "schedule": 60.0},
    # Compliance: the clients whose periodic risk review falls due get a review task (compliance.risk).
    "compliance-risk-reviews-daily": {"task": "compliance.tasks.risk_reviews_raise",
                                      "schedule": crontab(hour=5, minute=10)},
    # Agent monitoring: buffered activity into its table; its day partitions two weeks ahead; each
    # hour's new activity scored; the whole window rescored nightly (monitoring.recording, .pipeline).
    "monitoring-activity-flush": {"task": "monitoring.tasks.activity_flush", "schedule": 5.0},
    "monitoring-partitions-ahead": {"task": "monitoring.tasks.activity_partitions_ahead",
                                    "schedule": crontab(hour=0, minute=20)},
    "monitoring-score-hourly": {"task": "monitoring.tasks.score_hourly", "schedule": crontab(minute=7)},
    "monitoring-rescore-nightly": {"task": "monitoring.tasks.rescore_nightly", "schedule": crontab(hour=2, minute=10)},
    # Trading and partner abuse (monitoring.abuse): today's trading patterns hourly; every detector over
    # yesterday nightly, after the deals' nightly reconciliation.
    "monitoring-abuse-hourly": {"task": "monitoring.abuse_tasks.abuse_scan_hourly", "schedule": crontab(minute=23)},
    "monitoring-abuse-nightly": {"task": "monitoring.abuse_tasks.abuse_scan_nightly",
                                 "schedule": crontab(hour=3, minute=35)},
}
# Task modules beyond each app's tasks.py.
CELERY_IMPORTS = ("monitoring.abuse_tasks", "support.imap", "support.mail_intake")
# Agent monitoring (monitoring.recording): buffered activity lines that trigger a flush at once; a
# client whose deposits in one currency reach this amount is a high-value client.
MONITORING_ACTIVITY_FLUSH_AT = env_int("MONITORING_ACTIVITY_FLUSH_AT", 1000)
MONITORING_HIGH_VALUE_DEPOSITS = env("MONITORING_HIGH_VALUE_DEPOSITS", "10000")
# A deposit or withdrawal this large makes access to the client around it expected (monitoring).
MONITORING_LARGE_MOVEMENT = env("MONITORING_LARGE_MOVEMENT", "5000")
# Partner postbacks (ib.postbacks): how long the partner's server has to answer, how many attempts
# before a delivery is dead, and whether plain http to the loopback address is allowed (DEBUG, tests).
IB_POSTBACK_TIMEOUT_SECONDS = float(env("IB_POSTBACK_TIMEOUT_SECONDS", "5"))
IB_POSTBACK_MAX_ATTEMPTS = env_int("IB_POSTBACK_MAX_ATTEMPTS", 8)
# A full commission run of at least this many deals (the planner's estimate) is computed on two
# database connections, half the partners each (ib.engine); 0 (or less): always on one.
IB_ENGINE_PARALLEL_DEALS = env_int("IB_ENGINE_PARALLEL_DEALS", 200_000)
IB_POSTBACK_ALLOW_HTTP_LOOPBACK = env_bool("IB_POSTBACK_ALLOW_HTTP_LOOPBACK", DEBUG)
# Outbound webhooks (integrations.services): the receiver's time to answer, attempts before a delivery is
# dead, the first retry's pause (doubling up to the cap, with jitter), how long a subscriber may
# fail before it is paused, parallel POSTs per worker, and plain http to the loopback address
# (DEBUG, tests and the demo receiver of `make run`; https only otherwise).
CRM_WEBHOOK_TIMEOUT_SECONDS = float(env("CRM_WEBHOOK_TIMEOUT_SECONDS", "5"))
CRM_WEBHOOK_MAX_ATTEMPTS = env_int("CRM_WEBHOOK_MAX_ATTEMPTS", 12)
CRM_WEBHOOK_BACKOFF_SECONDS = float(env("CRM_WEBHOOK_BACKOFF_SECONDS", "10"))
CRM_WEBHOOK_BACKOFF_MAX_SECONDS = float(env("CRM_WEBHOOK_BACKOFF_MAX_SECONDS", "3600"))
CRM_WEBHOOK_PAUSE_AFTER_HOURS = float(env("CRM_WEBHOOK_PAUSE_AFTER_HOURS", "24"))
CRM_WEBHOOK_SEND_THREADS = env_int("CRM_WEBHOOK_SEND_THREADS", 16)
CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK = env_bool("CRM_WEBHOOK_ALLOW_HTTP_LOOPBACK", DEBUG)
# A deal or account-state sync holds a lease on its server for this long, renewed while it runs:
# a worker killed mid-sync blocks its server for at most this long (trading.lease).
TRADING_SYNC_LEASE_SECONDS = env_int("TRADING_SYNC_LEASE_SECONDS", 30)
# How long a link to see a new trading password works (once) before it expires (trading.password_links).
TRADING_PASSWORD_LINK_HOURS = env_int("TRADING_PASSWORD_LINK_HOURS", 48)
# Failed attempts to close an account on its platform before staff get a task to do it by hand.
TRADING_ACCOUNT_CLOSE_MAX_ATTEMPTS = env_int("TRADING_ACCOUNT_CLOSE_MAX_ATTEMPTS", 6)
# Years of history kept in the monthly partitioned tables (crm.lib.partitions) before a month may leave
# for the archive: the platform deals (declared by trading's AppConfig) and the wallet's
# ledger legs (declared by wallet's). Regulatory minimums: never set below your
# jurisdiction's record-keeping period (five to seven years for most).
TRADING_HISTORY_RETENTION_YEARS = env_int("TRADING_HISTORY_RETENTION_YEARS", 7)
WALLET_LEDGER_RETENTION_YEARS = env_int("WALLET_LEDGER_RETENTION_YEARS", 7)
# Monthly partitioned history (crm.lib.partitions): how many years each table keeps (a regulatory minimum;
# a table without a setting of its own keeps HISTORY_RETENTION_YEARS), and where the months past it are
# archived to (gzipped CSV and a JSON manifest each, which `manage.py partitions_reattach` loads back).
HISTORY_RETENTION_YEARS = env_int("HISTORY_RETENTION_YEARS", 7)
AUDIT_RETENTION_YEARS = env_int("AUDIT_RETENTION_YEARS", HISTORY_RETENTION_YEARS)
EVENT_RETENTION_YEARS = env_int("EVENT_RETENTION_YEARS", HISTORY_RETENTION_YEARS)
ACCESS_EVENT_RETENTION_YEARS = env_int("ACCESS_EVENT_RETENTION_YEARS", HISTORY_RETENTION_YEARS)
PARTITION_ARCHIVE_DIR = Path(os.environ.get("PARTITION_ARCHIVE_DIR") or VAR_DIR / "archive")
# KYC documents: private files, never under MEDIA_ROOT; served to staff only through a permission check.
KYC_STORAGE_DIR = Path(os.environ.get("KYC_STORAGE_DIR") or VAR_DIR / "kyc-documents")
# Private files (KYC documents, case files) are encrypted with per-brand keys kept outside the database
# (plumbing/envelope.py): a JSON key file, or the JSON itself. Development and tests make a key file
# under var/ on first use; production requires one.
CRM_ENCRYPTION_KEY_FILE = env("CRM_ENCRYPTION_KEY_FILE", "")
CRM_ENCRYPTION_KEYS = env("CRM_ENCRYPTION_KEYS", "")
CRM_ENCRYPT_FILES = env_bool("CRM_ENCRYPT_FILES", True)
KYC_MAX_UPLOAD_BYTES = env_int("KYC_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
# The built-in checks of a submission run in a fresh process of their own (kyc.checks.isolated): what
# reading the documents costs (decoding, OCR: up to about 300 MB) is given back when they end.
KYC_CHECKS_ISOLATED = env("KYC_CHECKS_ISOLATED", "1") != "0"
# External verification vendors (kyc.vendors), by code; a brand's KYC policy picks one (default: the
# built-in checks). "kycsim" is the KYC vendor simulator (python -m kyc.vendor_simulator).
KYC_VENDORS = {
    "kycsim": {"base_url": env("KYC_VENDOR_SIM_URL", "http://127.0.0.1:8470"),
               "api_key": env("KYC_VENDOR_SIM_API_KEY", ""), "api_secret": env("KYC_VENDOR_SIM_API_SECRET", ""),
               "webhook_secret": env("KYC_VENDOR_SIM_WEBHOOK_SECRET", ""), "timeout": 10.0},
}
# An external check whose webhook has not come after this long is looked up by its reference; a
# vendor that cannot be reached is tried again after KYC_VENDOR_RETRY_SECONDS, doubling (at most 1 h).
KYC_VENDOR_WEBHOOK_WAIT_MINUTES = env_int("KYC_VENDOR_WEBHOOK_WAIT_MINUTES", 10)
KYC_VENDOR_RETRY_SECONDS = env_int("KYC_VENDOR_RETRY_SECONDS", 60)
# Screening: a decision on a hit scoring at least this much (0 to 1) needs a second compliance officer.
COMPLIANCE_SCREENING_HIGH_SCORE = env("COMPLIANCE_SCREENING_HIGH_SCORE", "0.95")
# Screening: list entries a re-screen indexes at a time (its memory, about 10 KB an entry; a longer list
# takes more passes over the clients, not more memory) (compliance.screening).
COMPLIANCE_SCREENING_ENTRY_BATCH = env_int("COMPLIANCE_SCREENING_ENTRY_BATCH", 20_000)
# /metrics (crm/metrics.py) answers with this bearer token; unset, only to requests from this machine.
METRICS_TOKEN = env("METRICS_TOKEN", "")
RQ_QUEUES = {"default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600}}

# --- logging -----------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "plumbing.jsonlog.RequestIdFilter"}},
    "formatters": {"json": {"()": "plumbing.jsonlog.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},
        # One line per task received/succeeded and per beat send drowns everything else at INFO;
        # TASK_LOG_LEVEL=INFO brings them back.
        "celery.app.trace": {"level": env("TASK_LOG_LEVEL", "WARNING")},
        "celery.worker.strategy": {"level": env("TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env("TASK_LOG_LEVEL", "WARNING")},
    },
}

# --- CRM ---------------------------------------------------------------------------------------
CRM_SITE_NAME = env("CRM_SITE_NAME", "Brokerage CRM")
CRM_EVENT_MAX_ATTEMPTS = env_int("CRM_EVENT_MAX_ATTEMPTS", 8)
# Extra modules with @subscribe handlers, imported after every app's handlers.py (comma-separated).
CRM_EXTRA_HANDLER_MODULES = env_list("CRM_EXTRA_HANDLER_MODULES", [])
# An event that does not fit its declaration (crm.events.catalogue) raises when strict; otherwise it
# is logged as an error and still recorded. Strict in tests and under DEBUG.
CRM_EVENTS_STRICT = env_bool("CRM_EVENTS_STRICT", DEBUG)
# The base of every absolute URL the CRM hands out (crm.lib.public_url): mails, webhook addresses
# given to PSPs and KYC vendors, partners' links. Unset: the address HOST and PORT serve on.
try:
    CRM_PUBLIC_URL = public_url_from_env(os.environ)
except PublicUrlError as exc:
    raise ImproperlyConfigured(str(exc)) from None
# Without ALLOWED_HOSTS of its own, the CRM answers on the host its public URL names (a HOST other
# than loopback under make run), so that the links it hands out work.
if not env("ALLOWED_HOSTS"):
    _public_host = urlsplit(CRM_PUBLIC_URL).hostname or ""
    _public_host = f"[{_public_host}]" if ":" in _public_host else _public_host
    if _public_host and _public_host not in ALLOWED_HOSTS:
        ALLOWED_HOSTS.append(_public_host)
# A deposit still open (created, pending, unknown) this long after it was made, and not paid at its
# provider, is expired (wallet.deposits.deposit_status_refresh). Lookups start after the minimum age.
WALLET_DEPOSIT_EXPIRY_MINUTES = env_int("WALLET_DEPOSIT_EXPIRY_MINUTES", 24 * 60)
WALLET_DEPOSIT_REFRESH_AFTER_MINUTES = env_int("WALLET_DEPOSIT_REFRESH_AFTER_MINUTES", 10)
# A deposit's payment notification is stored before its provider is answered and applied afterwards
# by the worker, this many per transaction (wallet.webhook_batches); off: applied in the request.
WALLET_WEBHOOK_BATCHES = env_bool("WALLET_WEBHOOK_BATCHES", True)
WALLET_WEBHOOK_BATCH_SIZE = env_int("WALLET_WEBHOOK_BATCH_SIZE", 200)
WALLET_WEBHOOK_BATCH_INLINE = False  # the stored ones applied in the request, by the batch code (tests)
# The payment flags finance sees on a withdrawal (wallet.withdrawal_flags): this many failed deposit
# attempts in a row; this many different cards within WALLET_FLAG_CARDS_DAYS; a payout destination first
# used within WALLET_FLAG_NEW_DESTINATION_DAYS after a deposit; a deposit charged back within
# WALLET_CHARGEBACK_HOLD_DAYS holds the client's withdrawals. 0 turns a flag off. A payment flag only
# informs (it keeps a withdrawal from automatic approval) unless its kind is in WALLET_FLAGS_THAT_HOLD
# (failed_attempts, card_velocity, new_destination, third_party_funding).
WALLET_FLAG_FAILED_DEPOSITS_IN_A_ROW = env_int("WALLET_FLAG_FAILED_DEPOSITS_IN_A_ROW", 3)
WALLET_FLAG_CARDS = env_int("WALLET_FLAG_CARDS", 3)
WALLET_FLAG_CARDS_DAYS = env_int("WALLET_FLAG_CARDS_DAYS", 7)
WALLET_FLAG_NEW_DESTINATION_DAYS = env_int("WALLET_FLAG_NEW_DESTINATION_DAYS", 3)
WALLET_CHARGEBACK_HOLD_DAYS = env_int("WALLET_CHARGEBACK_HOLD_DAYS", 120)
WALLET_FLAGS_THAT_HOLD = env_list("WALLET_FLAGS_THAT_HOLD", [])
# Keys for secrets stored encrypted (crm.lib.crypto: platform credentials, telephony webhook secrets):
# the first encrypts, all decrypt; empty: a key derived from SECRET_KEY (and SECRET_KEY_FALLBACKS).
# After putting a new key first: manage.py trading_rotate_credentials and leads_reencrypt_telephony_secrets.
FIELD_ENCRYPTION_KEY = env_list("FIELD_ENCRYPTION_KEY", [])
# Keys that sign the audit chain's checkpoints (crm.audit): the first signs, all verify; empty: derived
# from SECRET_KEY (and SECRET_KEY_FALLBACKS). Keep them from the database's owner: whoever can
# rewrite the tables must not be able to sign a checkpoint.
AUDIT_CHECKPOINT_KEY = env_list("AUDIT_CHECKPOINT_KEY", [])
# Sales desk: click-to-call link when no telephony provider of the brand has one ("sip:{phone}",
# "https://pbx.example/call?to={phone}&ext={extension}"); webhook secrets of providers configured
# only here, as "provider=secret,other=secret2" (TelephonyProvider rows take precedence).
CRM_CLICK_TO_CALL_TEMPLATE = env("CRM_CLICK_TO_CALL_TEMPLATE", "tel:{phone}")
# Decimals of currencies ISO 4217 does not list (crypto, stablecoins), added to or overriding
# crm.lib.money.DEFAULT_EXTRA_EXPONENTS: "BTC=8,USDT=6,XAUT=6" (codes up to 10 characters, 0-8 decimals).
CRM_CURRENCY_EXPONENTS: dict[str, int] = {}
for _item in env_list("CRM_CURRENCY_EXPONENTS", []):
    _code, _equals, _digits = _item.partition("=")  # not `_`: that is gettext_lazy here
    if not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", _code.strip()) or not re.fullmatch(r"[0-8]", _digits.strip()):
        raise ImproperlyConfigured(f"CRM_CURRENCY_EXPONENTS entries look like BTC=8 (got {_item!r}).")
    CRM_CURRENCY_EXPONENTS[_code.strip()] = int(_digits)
CRM_TELEPHONY_SECRETS = dict(item.split("=", 1) for item in env_list("CRM_TELEPHONY_SECRETS", []) if "=" in item)
# Requests per API key (or staff user) per window on the JSON API: "<count>/<s|m|h|d>".
CRM_API_RATE_LIMIT = env("CRM_API_RATE_LIMIT", "1200/m")
# The API's authentication (API key or staff session), which every router's requires_scope uses: the
# assembly above the domain apps provides it (crm.api.caller_auth reads this name).
CRM_API_AUTHENTICATION = "integrations.assembly.caller_auth"
# Lead intake: POST /api/v1/leads per API key, and the public lead form per client IP.
LEADS_API_RATE_LIMIT = env("LEADS_API_RATE_LIMIT", "6000/m")
LEADS_FORM_RATE_LIMIT = env("LEADS_FORM_RATE_LIMIT", "10/m")
# Staff "forgot password" requests, per address asked for and per client IP (crm.lib.ratelimit).
PASSWORD_RESET_RATE_LIMIT = env("PASSWORD_RESET_RATE_LIMIT", "5/h")
PASSWORD_RESET_IP_RATE_LIMIT = env("PASSWORD_RESET_IP_RATE_LIMIT", "20/h")
# The trader's room, per client IP: registrations, login attempts, mails asked for (verification, reset).
PORTAL_REGISTER_RATE_LIMIT = env("PORTAL_REGISTER_RATE_LIMIT", "10/h")
PORTAL_LOGIN_RATE_LIMIT = env("PORTAL_LOGIN_RATE_LIMIT", "30/m")
PORTAL_MAIL_RATE_LIMIT = env("PORTAL_MAIL_RATE_LIMIT", "10/h")
# The starting balance a client may pick for a demo account in the trader's room.
PORTAL_DEMO_BALANCE_MIN = env_int("PORTAL_DEMO_BALANCE_MIN", 100)
PORTAL_DEMO_BALANCE_MAX = env_int("PORTAL_DEMO_BALANCE_MAX", 100000)
# The partner portal: login attempts per client IP, and wrong passwords per address (then refused
# until the window ends, whatever the password).
PARTNER_LOGIN_RATE_LIMIT = env("PARTNER_LOGIN_RATE_LIMIT", "30/m")
PARTNER_LOGIN_FAILURE_LIMIT = env("PARTNER_LOGIN_FAILURE_LIMIT", "10/h")
# The public partner application form, per client IP: applications taken (a refused one is not counted).
PARTNER_APPLY_RATE_LIMIT = env("PARTNER_APPLY_RATE_LIMIT", "5/h")
# The reverse proxies whose X-Forwarded-For names the client (crm.lib.middleware.client_ip), as
# addresses or networks; empty: the connection's own address is the client's, whatever a header says.
CRM_TRUSTED_PROXIES = env_list("CRM_TRUSTED_PROXIES", [])
for _proxy in CRM_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"CRM_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network.") from None
for _name in ("CRM_API_RATE_LIMIT", "LEADS_API_RATE_LIMIT", "LEADS_FORM_RATE_LIMIT", "PASSWORD_RESET_RATE_LIMIT",
              "PASSWORD_RESET_IP_RATE_LIMIT", "PORTAL_REGISTER_RATE_LIMIT", "PORTAL_LOGIN_RATE_LIMIT",
              "PORTAL_MAIL_RATE_LIMIT", "PARTNER_LOGIN_RATE_LIMIT", "PARTNER_LOGIN_FAILURE_LIMIT",
              "PARTNER_APPLY_RATE_LIMIT"):
    if not re.fullmatch(r"[1-9][0-9]*/[smhd]", globals()[_name] or ""):
        raise ImproperlyConfigured(f"{_name} must look like 1200/m (got {globals()[_name]!r}).")
