# The whole project (what .dockerignore leaves), installed with its runtime dependencies only.
FROM python:3.11-slim
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . && rm -rf build *.egg-info
# An unprivileged user; metrics of multi-process workers go to a directory under /tmp.
USER nobody
ENTRYPOINT ["billing"]
