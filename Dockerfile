# vinylprice: the Telegram bot by default; every admin command runs in the same image:
#   docker run --rm -v vinylprice-data:/data vinylprice vinylprice rebuild
# Follows the README's install steps (a virtual environment and an editable install of the
# checkout: the database migrations are read from the checkout's migrations/ folder).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp1: OpenMP for FAISS and scikit-learn; libglib2.0-0: OpenCV's one system dependency.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libgomp1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 10001 vinylprice \
    && useradd --uid 10001 --gid vinylprice --create-home --shell /usr/sbin/nologin vinylprice

WORKDIR /app
# Dependencies first, so that code changes do not reinstall TensorFlow.
COPY pyproject.toml README.md ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --upgrade pip \
    && mkdir -p vinylprice bot \
    && touch vinylprice/__init__.py bot/__init__.py \
    && /opt/venv/bin/pip install -e ".[postgres]" \
    && rm -rf vinylprice bot

COPY alembic.ini ./
COPY migrations ./migrations
COPY vinylprice ./vinylprice
COPY bot ./bot
COPY sample ./sample
RUN /opt/venv/bin/pip install --no-deps -e ".[postgres]" \
    && /opt/venv/bin/vinylprice --version

# The data home (database when SQLite, images, index builds) and Keras's weight cache live
# on the volume, so they survive new images; the container runs as an unprivileged user.
ENV PATH=/opt/venv/bin:$PATH \
    VINYLPRICE_HOME=/data \
    KERAS_HOME=/data/keras
RUN mkdir -p /data && chown vinylprice:vinylprice /data
VOLUME ["/data"]
USER vinylprice

CMD ["vinylprice", "bot"]
