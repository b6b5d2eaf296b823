# syntax=docker/dockerfile:1
# The meshlet sidecar image (entrypoint: the meshlet CLI, default command `run`). Multi-stage: the runtime stage has
# no compiler, no dev dependencies and runs as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples ./examples
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /opt/meshlet
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY config ./config
# A fixed non-root UID, so a pod's securityContext (runAsUser, fsGroup) can name it.
RUN groupadd --system --gid 4242 meshlet && useradd --system --uid 4242 --gid meshlet --no-create-home meshlet
USER 4242:4242
# outbound, inbound, admin (see config/schema: outbound.listen, inbound.listen, admin.listen)
EXPOSE 6140 6143 6191
ENTRYPOINT ["node", "dist/src/main.js"]
CMD ["run", "--config", "/etc/meshlet/sidecar.yaml"]
