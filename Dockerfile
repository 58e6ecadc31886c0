# One image for both services; the compose file picks the module to run.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY libs ./libs
COPY services ./services
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["python", "-m"]
