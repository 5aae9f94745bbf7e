# stackbot: `stackbot serve` (the Slack bot) by default; any other command as arguments.
#
# Built from a local wheel-house, so `docker build` needs no network and no registry
# beyond the base image (which may be any Debian-based image with Python 3.11):
#
#   python3.11 -m pip wheel --require-hashes -r requirements.lock -w wheels  # the locked versions
#   python3.11 -m pip wheel --no-deps . -w wheels                          # stackbot itself
#   python3.11 -m pip download --no-deps -d wheels pip   # pip itself, run from its wheel
#   docker build -t stackbot .                    # or: scripts/build-image
#   docker build --build-arg BASE=my/debian-with-python3.11 -t stackbot .
#
# The wheel-house must be made with Python 3.11 on x86_64 glibc >= 2.34 (cryptography's
# wheel); the image's Python must be 3.11 too. Only wheels/ is sent to the builder
# (.dockerignore). No BuildKit features are used: the legacy builder works.

ARG BASE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- install into a venv
FROM ${BASE} AS install
COPY wheels/ /wheels/
# The base need not have pip or ensurepip (Debian's python3 has neither): the venv is
# made without pip and pip runs straight from its wheel, installing from the wheel-house.
RUN set -eu; \
    python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version'; \
    python3 -m venv --without-pip /opt/stackbot; \
    pip_wheel=$(ls /wheels/pip-*.whl | sort -V | tail -n 1); \
    /opt/stackbot/bin/python "$pip_wheel/pip" install \
        --no-index --find-links /wheels --no-cache-dir \
        --disable-pip-version-check --root-user-action=ignore \
        stackbot; \
    /opt/stackbot/bin/stackbot --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM ${BASE}
ARG STACKBOT_UID=10001
# A fixed uid, so mounted keys and inventories can be made readable to it (chown 10001).
RUN set -eu; \
    groupadd --system --gid "$STACKBOT_UID" stackbot; \
    useradd --system --uid "$STACKBOT_UID" --gid stackbot --no-create-home \
        --home-dir /var/lib/stackbot --shell /usr/sbin/nologin stackbot; \
    mkdir -p /etc/stackbot /var/lib/stackbot; \
    chown stackbot:stackbot /var/lib/stackbot; \
    chmod 0750 /var/lib/stackbot
COPY --from=install /opt/stackbot /opt/stackbot

# XDG_DATA_HOME=/var/lib: a non-root stackbot keeps its data (audit spool, embedded
# audit Postgres, locks) in $XDG_DATA_HOME/stackbot, i.e. the volume below, unless the
# inventory sets data_dir.
ENV PATH=/opt/stackbot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XDG_DATA_HOME=/var/lib

LABEL org.opencontainers.image.title="stackbot" \
      org.opencontainers.image.description="Chat-ops incident bot for Docker Compose stacks" \
      org.opencontainers.image.licenses="Apache-2.0"

USER stackbot
WORKDIR /var/lib/stackbot
# The inventory is read from /etc/stackbot/stackbot.yaml (mount it, with its keys, read-only).
VOLUME ["/var/lib/stackbot"]
# `stackbot serve --http` listens here (Slack's request URL: /slack/events; alerts: /alerts/ENV).
EXPOSE 3000
# serve stops cleanly on SIGTERM and exits 0 (also as PID 1).
STOPSIGNAL SIGTERM
ENTRYPOINT ["stackbot"]
CMD ["serve"]
