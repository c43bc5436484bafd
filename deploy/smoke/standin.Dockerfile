# Stand-ins for the images no registry gives here (the collector, Jaeger,
# Grafana) and for a unit's webhook receiver: `p06-smoke otlp …` and
# `p06-smoke webhook …`. Built by deploy/smoke.sh from a context holding
# only the p06-smoke binary.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wget >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY p06-smoke /usr/local/bin/p06-smoke
USER 65534:65534
ENTRYPOINT ["p06-smoke"]
