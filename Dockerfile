# One image for every Gancang process: api, worker, beat and the courier sandbox.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY dispatch ./dispatch
COPY couriers ./couriers
COPY hospital_adapter ./hospital_adapter
RUN pip install . && useradd --create-home --uid 10001 gancang && mkdir -p /app/var && chown gancang /app/var
USER gancang
EXPOSE 8000
CMD ["gancang", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
