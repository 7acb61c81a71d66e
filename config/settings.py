"""Paperboy settings: one module, driven by environment variables.

With no environment at all Paperboy runs embedded: a SQLite file, Celery over a folder on disk
(``filesystem://``) with an embedded worker, and email written as .eml files to ``var/outbox``.
Every variable is listed with its default in README.md ("Configuration").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config.env import StrictEnv

# The generic classes mypy checks (ModelAdmin[Paper], ModelForm[Subscriber], Feed[...]) subscriptable at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = StrictEnv()

DJANGO_ENV = env.choice("DJANGO_ENV", ("development", "production"), default="development")
PRODUCTION = DJANGO_ENV == "production"

# Runtime state of an embedded run (SQLite file, outbox, Celery queue folder) lives here.
VAR_DIR = Path(env.str("PAPERBOY_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random string of at least 50 characters when "
            "DJANGO_ENV=production (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production (e.g. papers.example.org).")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-development-only-never-use-this-key-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Absolute base of links in emails (confirmation, unsubscribe, view in browser).
SITE_URL = env.url_with_scheme("SITE_URL", ("http", "https"), default="http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env.str("SITE_NAME", default="Paperboy")

INSTALLED_APPS = [
    "config.apps.PaperboyAdminConfig",  # django.contrib.admin with the dashboard (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "anymail",
    "rest_framework",
    "drf_spectacular",
    "papers",
    "subscribers",
    "newsletter",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'paperboy.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and DATABASES["default"]["NAME"] != ":memory:":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60 if PRODUCTION else 0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, locks): Redis when configured, process memory otherwise --------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # django-redis: one client per pool and incr() in one atomic round trip (Django's own backend
    # builds a redis-py client per call: 0.1 ms of a signup's CPU, BENCHMARKS.md).
    CACHES: dict[str, dict[str, Any]] = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Rendered public pages (papers/pagecache.py), in each process's memory: a hit reads no page over the
# network, and a restart (a deploy: new templates) starts afresh. Whether a page is still current is
# told by the papers version in the shared cache above. At most ~500 pages of ~60 KB per process.
CACHES["pages"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "paperboy-pages",
    "OPTIONS": {"MAX_ENTRIES": 500},
}

# --- Celery ---------------------------------------------------------------------------------
# No broker configured: a folder on disk is the queue and `make run` starts one embedded worker
# (with beat) that reads it. Tasks then run in the background exactly as they do on Redis,
# instead of eagerly inside the web request.
# CELERY_BROKER_URL=amqp://… puts the queue on RabbitMQ; config/celery.py sets each broker's own
# reliability options (README, "Scale out").
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://localhost/")
CELERY_EMBEDDED = CELERY_BROKER_URL.startswith("filesystem://")
CELERY_QUEUE_DIR = VAR_DIR / "celery"
# Results stay on Redis whichever broker carries the queue: the broker itself when it is Redis,
# else REDIS_URL when there is one (RabbitMQ's rpc:// results reach only the caller that sent the task).
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _default_result_backend = CELERY_BROKER_URL
else:
    _default_result_backend = REDIS_URL if not CELERY_EMBEDDED else ""
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_default_result_backend) or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Email ----------------------------------------------------------------------------------
# Precedence: EMAIL_BACKEND (e.g. an Anymail ESP backend) > EMAIL_URL (SMTP) > the local outbox.
_smtp = env.smtp("EMAIL_URL")
EMAIL_HOST = _smtp.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _smtp.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _smtp.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _smtp.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _smtp.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _smtp.get("EMAIL_USE_SSL", False)
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=_smtp.get("EMAIL_BACKEND", "common.outbox.OutboxEmailBackend"))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# SMTP commands pipelined (RFC 2920) by newsletter/smtp.py; off: exactly Django's SMTP backend.
EMAIL_SMTP_PIPELINING = env.bool("EMAIL_SMTP_PIPELINING", default=True)
OUTBOX_DIR = Path(env.str("OUTBOX_DIR", default=str(VAR_DIR / "outbox")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Paperboy <paperboy@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# Anymail: every ANYMAIL_<NAME> variable becomes ANYMAIL["<NAME>"], so any provider's settings
# can be given without code changes (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET, ...).
ANYMAIL_ENV_PREFIX = "ANYMAIL_"
ANYMAIL = {
    name.removeprefix(ANYMAIL_ENV_PREFIX): value
    for name, value in env.ENVIRON.items()
    if name.startswith(ANYMAIL_ENV_PREFIX)
}

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# The container health check and load balancers probe /healthz over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content Security Policy (django-csp): our own static files only, no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "https:", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}

# --- Static files (whitenoise) --------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
# Outside production, serve straight from the source folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error"), default="info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# --- Sources (papers ingest) ----------------------------------------------------------------
HF_BASE_URL = env.url_with_scheme("HF_BASE_URL", ("http", "https"), default="https://huggingface.co").rstrip("/")
ARXIV_API_URL = env.url_with_scheme("ARXIV_API_URL", ("http", "https"), default="https://export.arxiv.org/api").rstrip(
    "/"
)
ARXIV_RSS_URL = env.url_with_scheme("ARXIV_RSS_URL", ("http", "https"), default="https://rss.arxiv.org").rstrip("/")
# arXiv asks API clients for no more than one request every 3 seconds.
ARXIV_REQUEST_INTERVAL = env.float("ARXIV_REQUEST_INTERVAL", default=3.0)
PAPERBOY_HTTP_TIMEOUT = env.float("PAPERBOY_HTTP_TIMEOUT", default=30.0)
PAPERBOY_HTTP_RETRIES = env.int("PAPERBOY_HTTP_RETRIES", default=4)
PAPERBOY_HTTP_BACKOFF = env.float("PAPERBOY_HTTP_BACKOFF", default=2.0)
PAPERBOY_USER_AGENT = env.str(
    "PAPERBOY_USER_AGENT", default="Paperboy/0.1 (+https://github.com/paperboy; trending-papers newsletter)"
)

# --- Ingest and curation --------------------------------------------------------------------
# New daily entries start approved (a day works with no editor) or wait for an editor.
PAPERBOY_NEW_ENTRY_STATUS = env.choice("PAPERBOY_NEW_ENTRY_STATUS", ("approved", "pending"), default="approved")
# When the HF JSON API is switched off (or failing), ingest reads the papers page instead.
HF_API_ENABLED = env.bool("HF_API_ENABLED", default=True)
# UTC hours at which beat fetches today's HF papers, and the arXiv categories fetched daily.
HF_INGEST_HOURS = env.list("HF_INGEST_HOURS", cast=int, default=[6, 12, 18])
ARXIV_CATEGORIES = env.list("ARXIV_CATEGORIES", default=["cs.CL", "cs.LG", "cs.AI", "cs.CV"])
ARXIV_INGEST_HOUR = env.int("ARXIV_INGEST_HOUR", default=5)
# After a live HF ingest, ask the arXiv export API for the categories HF does not carry.
ARXIV_ENRICH_CATEGORIES = env.bool("ARXIV_ENRICH_CATEGORIES", default=True)
if not all(0 <= hour <= 23 for hour in [*HF_INGEST_HOURS, ARXIV_INGEST_HOUR]):
    raise ImproperlyConfigured("HF_INGEST_HOURS and ARXIV_INGEST_HOUR take hours from 0 to 23 (UTC).")

# --- Public pages (papers/pagecache.py) -----------------------------------------------------
# How long the home page, the day, week and month listings and search results stay cached. A change
# to papers or entries replaces them at once (papers/version.py): this bounds memory and the age of
# the "trending" sort. Without REDIS_URL nothing is cached (an ingest in the worker could not clear
# each web process's own cache).
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=300 if REDIS_URL else 0)

# --- JSON API (papers/api/, /api/v1/) --------------------------------------------------------
# Requests per client address (RATELIMIT_IP_META_KEY) across the API; more answer 429 with Retry-After.
API_RATE = env.throttle_rate("API_RATE", default="60/min")
# How long an answer stays in the cache. A change to papers or entries replaces it at once (papers/version.py),
# so this only bounds memory. Without REDIS_URL each process has its own cache, which an ingest in the
# worker could not clear: nothing is cached then.
API_CACHE_SECONDS = env.int("API_CACHE_SECONDS", default=3600 if REDIS_URL else 0)
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],  # read-only: no request bodies
    "DEFAULT_AUTHENTICATION_CLASSES": [],  # public: no sessions, so no CSRF either
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": ["papers.api.throttling.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Paperboy API",
    "DESCRIPTION": "Read-only JSON API of the papers Paperboy lists, in a shape close to Hugging Face's daily_papers.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PATH_CONVERTER_OVERRIDES": {"isodate": {"type": "string", "format": "date"}},
}

# --- Subscribers ----------------------------------------------------------------------------
# Confirmation (and "already subscribed") emails to one address per day, whoever asks.
SIGNUP_CONFIRMATIONS_PER_DAY = env.int("SIGNUP_CONFIRMATIONS_PER_DAY", default=3)
# django-ratelimit rates ("count/period", period s/m/h/d) for the signup form.
SIGNUP_RATE_PER_IP = env.rate("SIGNUP_RATE_PER_IP", default="10/h")
SIGNUP_RATE_PER_EMAIL = env.rate("SIGNUP_RATE_PER_EMAIL", default="5/h")
# Signups never confirmed are deleted after this many days.
UNCONFIRMED_RETENTION_DAYS = env.int("UNCONFIRMED_RETENTION_DAYS", default=30)
# Admin login POSTs, per username and per client address (further tries answer 429 until the window passes).
ADMIN_LOGIN_RATE_PER_USERNAME = env.rate("ADMIN_LOGIN_RATE_PER_USERNAME", default="5/5m")
ADMIN_LOGIN_RATE_PER_IP = env.rate("ADMIN_LOGIN_RATE_PER_IP", default="20/h")
# Where the client's address is: REMOTE_ADDR, or e.g. HTTP_X_REAL_IP behind a proxy that sets it.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="REMOTE_ADDR")
# Rate limits count in the default cache: Redis (shared by every web process) when REDIS_URL is
# set, else process memory, which is exact for `make run`'s single process but per-process under
# gunicorn (`check --deploy` says so).

# --- Digests --------------------------------------------------------------------------------
# The sender's postal address, shown in every digest's footer (anti-spam laws ask for one).
POSTAL_ADDRESS = env.str("POSTAL_ADDRESS", default="")
# The day's curation freezes at this UTC hour: the daily edition is published then (weekly: on Sundays).
DIGEST_CUTOFF_HOUR = env.int("DIGEST_CUTOFF_HOUR", default=22)
# Ranking weights (popularity vs. relevance to the reader's interests).
RANKING_POPULARITY_WEIGHT = env.float("RANKING_POPULARITY_WEIGHT", default=0.2)
RANKING_RELEVANCE_WEIGHT = env.float("RANKING_RELEVANCE_WEIGHT", default=0.8)
# Semantic similarity, an optional extra (requirements-embeddings.txt): papers get an all-MiniLM-L6-v2
# embedding after ingest (papers/embeddings.py). Off: nothing is computed and torch is never imported.
RANKING_EMBEDDINGS = env.bool("RANKING_EMBEDDINGS", default=False)
# Sending: deliveries per chunk task, attempts per message, and the pause threshold.
DIGEST_CHUNK_SIZE = env.int("DIGEST_CHUNK_SIZE", default=200)
DIGEST_MAX_ATTEMPTS = env.int("DIGEST_MAX_ATTEMPTS", default=5)
DIGEST_PAUSE_AFTER_ERRORS = env.int("DIGEST_PAUSE_AFTER_ERRORS", default=50)
# Messages per second across all workers (0: no limit), counted in the shared cache.
DIGEST_SEND_RATE = env.int("DIGEST_SEND_RATE", default=0)
# A row claimed by a worker that has not finished within this many minutes is marked unknown.
DIGEST_SENDING_TIMEOUT_MINUTES = env.int("DIGEST_SENDING_TIMEOUT_MINUTES", default=30)
# First-party click tracking: each paper's links in a digest go through /c/<token>/<paper>/<kind>/,
# which records one Click per delivery and paper and redirects to the paper's stored URL. Off:
# digests carry the direct URLs (links of digests already sent still redirect, recording nothing).
CLICK_TRACKING = env.bool("CLICK_TRACKING", default=True)
# A 1x1 image at the end of each HTML digest that sets Delivery.opened_at. Off by default: image
# proxies (Apple Mail Privacy Protection, Gmail) load it for the reader or never, so opens mislead.
OPEN_TRACKING = env.bool("OPEN_TRACKING", default=False)
# Digests' MIME written by newsletter/mime.py (about 5x faster, BENCHMARKS.md); off: Django's own.
DIGEST_FAST_MIME = env.bool("DIGEST_FAST_MIME", default=True)
# ESP batch sending (an Anymail backend with batch support, e.g. Postmark): the ESP's stored
# template that shows each reader's own rendering ({{subject}}, {{{html_body}}}, {{{text_body}}}),
# and readers per API call (Postmark takes 500). Empty: one API call per message.
DIGEST_ESP_BATCH_TEMPLATE = env.str("DIGEST_ESP_BATCH_TEMPLATE", default="")
# With it, a text-only template ({{subject}}, {{{text_body}}}) for plain-text readers, who then go
# in batches too. Empty: plain-text readers one API call each.
DIGEST_ESP_BATCH_TEXT_TEMPLATE = env.str("DIGEST_ESP_BATCH_TEXT_TEMPLATE", default="")
DIGEST_ESP_BATCH_SIZE = env.int("DIGEST_ESP_BATCH_SIZE", default=500)
if DIGEST_ESP_BATCH_SIZE < 1:
    raise ImproperlyConfigured("DIGEST_ESP_BATCH_SIZE takes a number of messages, at least 1.")
if not 0 <= DIGEST_CUTOFF_HOUR <= 23:
    raise ImproperlyConfigured("DIGEST_CUTOFF_HOUR takes an hour from 0 to 23 (UTC).")
