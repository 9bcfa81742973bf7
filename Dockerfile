# syntax=docker/dockerfile:1
#
# Production image for subgate: the locked runtime dependencies only (no dev group), run as an
# unprivileged user. `docker compose up` (compose.yaml) builds it once for api, worker and migrate.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build: resolve into /opt/venv
FROM ${PYTHON_IMAGE} AS build

# Same uv release as the dev group in uv.lock; taken from PyPI like every other dependency.
ARG UV_VERSION=0.13.9
RUN python -m pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

WORKDIR /build

# Dependencies first, from the lock alone, so source edits don't invalidate this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself, installed as a regular (non-editable) package so /build is not needed
# at run time. README.md is read by the build backend (project.readme).
COPY README.md ./
COPY subgate ./subgate
COPY domain ./domain
COPY gateway ./gateway
COPY integrations ./integrations
COPY workers ./workers
RUN uv sync --frozen --no-dev --no-editable

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

RUN groupadd --system --gid 10001 subgate \
 && useradd --system --uid 10001 --gid subgate --home-dir /var/lib/subgate --create-home \
        --shell /usr/sbin/nologin subgate

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SUBGATE_DATA_DIR=/var/lib/subgate \
    SUBGATE_HOST=0.0.0.0 \
    SUBGATE_PORT=8000

# Numeric, so orchestrators can verify the image does not run as root.
USER 10001:10001
WORKDIR /var/lib/subgate
EXPOSE 8000

ENTRYPOINT ["subgate"]
CMD ["serve"]
