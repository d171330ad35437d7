# The trainer worker: the project's fixed training harness, fed hyperparameters (never code)
# over Redis. One worker per GPU; run more on any host that reaches the same Redis.
#   TORCH_VARIANT=cuda  PyPI's torch==2.13.0 (CUDA 13: needs an NVIDIA driver >= 580); torch's
#                       own metadata pins the CUDA libraries. For an older driver, set
#                       TORCH_INDEX_URL to a PyTorch CUDA 12 index (e.g. .../whl/cu126).
#   TORCH_VARIANT=cpu   the CPU build of the same pin: from wheels staged in build/wheels/
#                       (images/build.sh links the host's local wheels there), else from
#                       TORCH_INDEX_URL (PyTorch's CPU index)
#   docker build --network host --build-arg BASE=python:3.11-slim --build-arg TORCH_VARIANT=cpu \
#     -f images/trainer.Dockerfile -t bilevel/trainer:cpu .          (or: make images)
ARG BASE=python:3.11-slim

FROM ${BASE} AS deps
ARG TORCH_VARIANT=cuda
ARG TORCH_INDEX_URL=
COPY images/trainer.lock /tmp/trainer.lock
# Wheels staged by images/build.sh (empty unless the host has local ones); the stage is
# thrown away, so they never reach the final image.
COPY build/wheels/ /tmp/wheels/
RUN case "$TORCH_VARIANT" in cpu|cuda) ;; *) echo "TORCH_VARIANT must be cpu or cuda" >&2; exit 2;; esac \
 && python3.11 -m venv /opt/venv \
 && set -- ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} \
 && if [ "$TORCH_VARIANT" = cpu ]; then set -- "$@" --find-links /tmp/wheels; fi \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check "$@" -r /tmp/trainer.lock \
 && /opt/venv/bin/python -c "import torch, sys; v = torch.__version__; print('torch', v); \
sys.exit(0 if ('+cpu' in v) == ('$TORCH_VARIANT' == 'cpu') else f'wrong torch build {v} for $TORCH_VARIANT')"

# The project as a wheel, built against the pinned setuptools above (no unpinned backend).
FROM deps AS wheel
COPY pyproject.toml README.md /src/
COPY contract /src/contract
COPY orchestrator /src/orchestrator
COPY trainer /src/trainer
COPY sandbox /src/sandbox
RUN /opt/venv/bin/pip wheel --no-cache-dir --disable-pip-version-check \
      --no-deps --no-build-isolation --wheel-dir /wheels /src

FROM ${BASE}
RUN groupadd --gid 10001 bilevel \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin bilevel \
 && mkdir -p /cache && chown bilevel /cache
# Dependencies first: this layer stays cached until the lock changes; a source change
# only rebuilds the small layers below.
COPY --from=deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
COPY deploy/healthcheck.py /opt/venv/bin/bilevel-healthcheck
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && sed -i '1i #!/opt/venv/bin/python' /opt/venv/bin/bilevel-healthcheck \
 && chmod 0755 /opt/venv/bin/bilevel-healthcheck
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BILEVEL_CACHE_DIR=/cache
WORKDIR /app
USER 10001:10001
CMD ["bilevel", "worker"]
