# The ledger service image. Build: docker build -t usage-ledger .   (docker-compose.yml builds it for you)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contract ./contract
COPY ledger_service ./ledger_service
COPY web ./web
# The service and the contract it shares with the client library; the client itself is not needed here.
RUN pip install ./contract . && useradd --system --uid 10001 --home-dir /app ledger

USER ledger
EXPOSE 8000
# /readyz answers 200 only when the database is reachable and every migration is applied.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["usage-ledger", "serve", "--host", "0.0.0.0", "--port", "8000"]
