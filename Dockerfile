# Image that the GitLab and CircleCI wrappers run: a base image with a shell plus the
# inline-scan binary, running as a non-root user.
#
# Every base image is a build argument without a default, so each build names (and should pin
# by digest) the images it trusts:
#   BUILDER_IMAGE  Rust toolchain image for the `build` stage, e.g. rust:1.85-bookworm@sha256:...
#   RUNTIME_IMAGE  base of the final image; it needs /bin/sh, bash, mkdir and chown for CI jobs
#   BINARY_STAGE   `build` (default) compiles the binary; `prebuilt` copies BINARY_PATH from
#                  the build context instead, for release pipelines and offline tests
#
# With BuildKit (DOCKER_BUILDKIT=1) the stage not selected by BINARY_STAGE is skipped.
ARG BUILDER_IMAGE
ARG RUNTIME_IMAGE
ARG BINARY_STAGE=build

FROM ${BUILDER_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin inline-scan \
    && install -D -m 0755 target/release/inline-scan /out/inline-scan

FROM scratch AS prebuilt
ARG BINARY_PATH=target/release/inline-scan
COPY ${BINARY_PATH} /out/inline-scan

FROM ${BINARY_STAGE} AS binary

FROM ${RUNTIME_IMAGE}
ARG UID=10001
RUN mkdir -p /home/inline-scan && chown "${UID}:${UID}" /home/inline-scan
COPY --from=binary --chmod=0755 /out/inline-scan /usr/local/bin/inline-scan
ENV HOME=/home/inline-scan
USER ${UID}:${UID}
WORKDIR /home/inline-scan
CMD ["inline-scan", "--help"]
