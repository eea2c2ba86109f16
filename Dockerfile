FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY billing_core billing_core
COPY billing_cli billing_cli
COPY producers producers
COPY workers workers
COPY webhooks webhooks
COPY api api
COPY migrations migrations
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["billing"]
