# Docent in a container: the embedded profile by default (SQLite, local model, worker inside the server);
# the scaled profile by configuration alone (see deploy/compose.yaml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    DOCENT_HOST=0.0.0.0 \
    DOCENT_PORT=8000 \
    DOCENT_DATA_DIR=/var/lib/docent \
    DOCENT_DATABASE_URL=sqlite:////var/lib/docent/docent.db \
    DOCENT_MODEL_CACHE_DIR=/opt/docent/models

WORKDIR /app
# CPU PyTorch from PyTorch's own index, pinned: PyPI's default build pulls several GB of CUDA.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --system --uid 10001 --home-dir /var/lib/docent docent \
    && mkdir -p /var/lib/docent && chown docent /var/lib/docent
# The ONNX export of the packaged model is made once here, so no container spends its first start on it.
RUN python -c "from docent.llm.onnx_embedder import OnnxEmbedder; from pathlib import Path; \
OnnxEmbedder(cache_dir=Path('/opt/docent/models')).load()" && chown -R docent /opt/docent
COPY deploy/entrypoint.sh /usr/local/bin/docent-entrypoint

USER docent
VOLUME ["/var/lib/docent"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
ENTRYPOINT ["docent-entrypoint"]
CMD ["serve"]
