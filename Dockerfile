# syntax=docker/dockerfile:1
# The meshlet image: one image, two entrypoints by command: the sidecar (`run`, the default) and the Kubernetes
# injector (`injector`); the injected init container runs `iptables` from it too. Multi-stage: the build stage
# compiles with the dev dependencies; the runtime stage installs the production dependencies only
# (npm ci --omit=dev), has no compiler and runs as the non-root UID 4242.
# npm needs no credentials here; a build behind a TLS-inspecting proxy mounts its CA bundle and an npmrc naming it
# at build time (test/image/image.test.ts shows how), so nothing of it lands in a layer.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.image.json ./
COPY src ./src
COPY examples ./examples
# tsconfig.image.json: src and examples only (bench/ needs test/, which stays out of the image).
RUN npx tsc -p tsconfig.image.json

# The example services of deploy/examples/ (user-service, order-service): the build stage as it stands (compiled
# examples, their protos, the dependencies). Built only on request:
#   podman build --target examples -t meshlet-examples:0.1.0 .
FROM build AS examples
USER 4242:4242
ENTRYPOINT ["node"]
CMD ["dist/examples/services/user-service/main.js"]

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
# iptables: for `meshlet iptables`, the traffic redirect the injected init container installs.
RUN apt-get update && apt-get install -y --no-install-recommends iptables && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/meshlet
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY config ./config
# The default bootstrap the default command runs; the injector mounts a ConfigMap over /etc/meshlet instead.
COPY deploy/sidecar-injector/sidecar.yaml /etc/meshlet/sidecar.yaml
# A fixed non-root UID, so a pod's securityContext (runAsUser, fsGroup) and the redirect (--proxy-uid) name it.
RUN groupadd --system --gid 4242 meshlet && useradd --system --uid 4242 --gid meshlet --no-create-home meshlet
USER 4242:4242
# outbound, inbound, admin (see config/schema: outbound.listen, inbound.listen, admin.listen)
EXPOSE 6140 6143 6191
# The node flags of src/node-flags.ts (a young generation of at most 2 × 8 MiB: decisions §18); V8 takes them only
# at start.
ENTRYPOINT ["node", "--max-semi-space-size=8", "dist/src/main.js"]
CMD ["run", "--config", "/etc/meshlet/sidecar.yaml"]

