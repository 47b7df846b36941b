# The churn package in one image: every `churn` command, for Vertex AI training jobs, Vertex
# AI Pipelines components and batch work (`churn image push` builds it with Cloud Build,
# `make image` with a local docker).
#   docker run IMAGE train --data data/sample/customer_churn.csv --set train.epochs=3
#   docker run --entrypoint python IMAGE -m pipeline --help
# Python 3.10, as in Vertex AI's prebuilt training and serving images.
FROM python:3.10-slim

# The TensorFlow the model is trained and exported with (pyproject.toml allows
# tensorflow-cpu>=2.16,<2.22 on linux/x86_64; tests/unit/test_image.py keeps this pin inside it).
ARG TENSORFLOW=tensorflow-cpu==2.21.0

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

# Only what the package needs to install (.dockerignore keeps the rest out of the context).
WORKDIR /opt/churn
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
# pip compiles bytecode at install by default: no component compiles TensorFlow at start-up.
RUN pip install "${TENSORFLOW}" . && churn --help >/dev/null

# Not root: jobs and components write their artifacts under the user's home.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin churn
USER churn
WORKDIR /home/churn
COPY --chown=churn:churn configs ./configs
COPY --chown=churn:churn data/sample ./data/sample

ENTRYPOINT ["churn"]
CMD ["--help"]
