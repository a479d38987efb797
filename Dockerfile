# The tracker command in a container; docker-compose.yml runs it against PostgreSQL.
FROM python:3.11-slim
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY tracker ./tracker
COPY db ./db
COPY config ./config
RUN pip install --no-cache-dir . \
    && mkdir -p /srv/tapes && cp tracker/data/biren-2026-01-02.csv /srv/tapes/ \
    && rm -rf /src
WORKDIR /var/lib/tracker
ENTRYPOINT ["tracker"]
CMD ["--help"]
