# The orchestrator: study loop, LLM client, journal, reports, CLI. No PyTorch, no Docker SDK:
# it never trains and never holds the Docker socket (DESIGN §2).
#   docker build --network host --build-arg BASE=python:3.11-slim \
#     -f images/orchestrator.Dockerfile -t bilevel/orchestrator .     (or: make images)
ARG BASE=python:3.11-slim

FROM ${BASE} AS deps
COPY images/orchestrator.lock /tmp/orchestrator.lock
RUN python3.11 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/orchestrator.lock

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
 && mkdir -p /app/runs && chown bilevel /app/runs
# Dependencies first: this layer stays cached until the lock changes; a source change
# only rebuilds the small layers below.
COPY --from=deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
COPY deploy/healthcheck.py /opt/venv/bin/bilevel-healthcheck
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && sed -i '1i #!/opt/venv/bin/python' /opt/venv/bin/bilevel-healthcheck \
 && chmod 0755 /opt/venv/bin/bilevel-healthcheck
# The sandbox image's lock: the static gate's import allowlist (sandbox/gate.py).
COPY images/sandbox.lock /app/sandbox.lock
COPY studies /app/studies
ENV PATH=/opt/venv/bin:$PATH \
    BILEVEL_SANDBOX_LOCK=/app/sandbox.lock \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001
CMD ["sleep", "infinity"]
