# The Timesheets image: both binaries, /api (the default entrypoint) and
# /importer (the CronJob sets command: ["/importer"]), static and stripped,
# on distroless as the non-root user 65532.
#   docker build -t timesheets:dev .
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Set by BuildKit for the platform being built; empty means the host's.
ARG TARGETOS
ARG TARGETARCH
ENV CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH}
RUN go build -trimpath -ldflags="-s -w" -o /out/api ./cmd/api \
 && go build -trimpath -ldflags="-s -w" -o /out/importer ./cmd/importer

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/api /out/importer /
USER 65532:65532
# API, /healthz and /readyz, /metrics.
EXPOSE 8080 8081 9090
ENTRYPOINT ["/api"]
