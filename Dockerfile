# Slim, non-root image. Give it PULSEGATE_DATABASE_URL (see docker-compose.yml); without one it
# runs the embedded PostgreSQL under /data. Dependencies come from requirements.lock (pinned,
# with hashes), so two builds of one commit install the same packages.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 pulsegate && mkdir /data && chown pulsegate /data
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels && pip check
USER pulsegate
WORKDIR /home/pulsegate
ENV PULSEGATE_DATA_DIR=/data PULSEGATE_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --start-period=30s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["pulsegate", "serve", "--host", "0.0.0.0", "--port", "8000"]
