# Stand-in for the official postgres image where no registry can be
# reached: Debian's PostgreSQL 15 behind an entrypoint with the same
# contract (POSTGRES_PASSWORD, POSTGRES_USER, PGDATA, and the scripts in
# /docker-entrypoint-initdb.d run once on the first start).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
    && pg_dropcluster --stop 15 main \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
    && install -d -o postgres -g postgres -m 2775 /var/run/postgresql \
    && install -d /docker-entrypoint-initdb.d
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
# Fast shutdown (SIGTERM would wait for every pooled client to leave).
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["sh", "/usr/local/bin/postgres-entrypoint.sh"]
