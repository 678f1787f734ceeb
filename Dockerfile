# SignalOps: one static binary on a distroless, non-root base.
#
#   docker build -t signalops .
#   docker run --rm -p 3000:3000 -e DATABASE_URL=... -e JWT_SECRET=... -e SECRET_KEY=... signalops
#
# The default command is `serve`; run `work`, `migrate up` or `seed tenant ...`
# by passing them as the command. `dev` is not for this image: it needs
# PostgreSQL's initdb/pg_ctl, which the runtime image does not have.

# go.mod asks for go 1.26.8; the golang images set GOTOOLCHAIN=local, so the
# image must carry 1.26.8 or newer (pin with --build-arg GO_VERSION=1.26.8).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src

# Dependencies first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/signalops .

# static-debian12 has CA certificates and tzdata and nothing else (no shell).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signalops /signalops
USER nonroot:nonroot
EXPOSE 3000
ENTRYPOINT ["/signalops"]
CMD ["serve"]
