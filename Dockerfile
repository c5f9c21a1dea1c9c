# redis-migrate as a container image: a build stage that compiles the tool, and a runtime stage that holds only
# the binary and the shared libraries it links, running as an unprivileged user.
#
#   docker build -t redis-migrate .
#   docker run --rm --network host redis-migrate redis://127.0.0.1:6379/0 redis://127.0.0.1:6380/0
#
# Build arguments: VERSION (reported by --version and in the version label; keep the default equal to
# project(VERSION) in CMakeLists.txt), REVISION (the commit, for the revision label), SOURCE_URL (where the
# source lives, for the source label), JOBS (parallel compile jobs).
# Every RUN is plain sh without heredocs, so buildah/podman build it as well as docker.
#
# The binary comes from the `binary` stage, which compiles it here. A binary already built from the same source on
# Debian bookworm (configured with -DCMAKE_BUILD_TYPE=Release -DBoost_USE_STATIC_LIBS=ON, then stripped) can
# replace that stage, and the compile is skipped: `--build-context binary=DIR` with DIR/redis-migrate (docker
# buildx and podman 4 accept it; scripts/test.sh does this with its Release build).

# The two package layers come first, as stages of their own (`--target toolchain`, `--target runtime`), so that
# they can be built and cached ahead of the source: CI fetches them while it compiles the tests.
FROM debian:bookworm-slim AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ cmake make pkg-config libhiredis-dev libuv1-dev libssl-dev \
      libboost-url1.81-dev libspdlog-dev libcli11-dev nlohmann-json3-dev libre2-dev prometheus-cpp-dev \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*

FROM debian:bookworm-slim AS runtime
# Runtime libraries only: what the binary links (prometheus-cpp's pull library brings civetweb and zlib along).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libhiredis0.14 libuv1 libssl3 libspdlog1.10 libfmt9 libre2-9 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt \
      /var/log/dpkg.log \
 && mkdir -p /usr/lib/ssl \
 && ln -s /etc/ssl/certs/ca-certificates.crt /usr/lib/ssl/cert.pem \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin redis-migrate

FROM toolchain AS build
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
ARG VERSION=0.1.0
ARG JOBS=2
# Tests off: they need redis-server and run in CI outside the image. Warnings are not errors here: CI builds with
# -Werror already, and a newer compiler's new warning must not stop someone building the image. Boost.URL is
# linked statically: its Debian package would add a 2 MB copyright file to the image, and the Boost licence asks
# for no notice with a binary.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRM_BUILD_TESTS=OFF -DRM_WERROR=OFF \
      -DBoost_USE_STATIC_LIBS=ON -DRM_VERSION="${VERSION}" >/dev/null \
 && cmake --build build -j"${JOBS}" --target redis-migrate \
 && strip build/src/redis-migrate \
 && build/src/redis-migrate --version

FROM scratch AS binary
COPY --from=build /src/build/src/redis-migrate /redis-migrate

FROM runtime
# The system CA store, for verifying rediss:// servers: Debian's bundle, found through OpenSSL's default
# /usr/lib/ssl/cert.pem. Only the bundle: the ca-certificates package would bring the openssl program along.
COPY --from=toolchain /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=binary /redis-migrate /usr/local/bin/redis-migrate
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE_URL=unknown
LABEL org.opencontainers.image.title="redis-migrate" \
      org.opencontainers.image.description="Copies every key from one Redis server to another with SCAN, PTTL, DUMP and RESTORE" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"
USER 10001:10001
WORKDIR /tmp
# redis-migrate is PID 1: SIGTERM (docker stop, a Job's deletion) reaches it directly, and it stops scanning,
# finishes the keys in flight, prints the summary and exits 143. No CMD: the URLs come as arguments or from
# SOURCE_REDIS_URL / DESTINATION_REDIS_URL, and with neither it prints the usage and exits 2.
ENTRYPOINT ["redis-migrate"]
