# Paperboy image: the same image runs web (gunicorn), worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAPERBOY_VAR_DIR=/var/lib/paperboy

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Static files are collected at build time; whitenoise serves them from STATIC_ROOT.
RUN DJANGO_ENV=production SECRET_KEY=collectstatic-only-build-time-key-that-is-never-used-at-run-time \
    ALLOWED_HOSTS=build python manage.py collectstatic --noinput \
 && useradd --system --home /app paperboy \
 && mkdir -p /var/lib/paperboy && chown paperboy /var/lib/paperboy
USER paperboy

EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
