# syntax=docker/dockerfile:1
# Tessera: build once (codegen + tsc), run from the build with production dependencies only.
#   docker build -t tessera .
#   docker run --rm -e DATABASE_URL=postgres://… -e APP_SECRET=… -p 4000:4000 tessera
# The image has no embedded PostgreSQL (optional dependencies are omitted): DATABASE_URL is required,
# and without it the server stops at start with a message naming DATABASE_URL.

ARG NODE_IMAGE=node:20-bookworm-slim
# node:20 ships npm 10, which ignores package.json "allowScripts" and would run every install script
# (@apollo/protobufjs's too). npm 11 applies the recorded decisions; --strict-allow-scripts makes an
# unreviewed install script an error instead of a warning.
ARG NPM_VERSION=11.19.1

FROM ${NODE_IMAGE} AS base
ARG NPM_VERSION
RUN npm install -g --no-audit --no-fund "npm@${NPM_VERSION}" && npm --version
WORKDIR /app

# ---- build: every dependency, codegen and the TypeScript compiler -> dist/
FROM base AS build
COPY package.json package-lock.json ./
# --omit=optional: the embedded PostgreSQL binaries are not needed to build (nor in a container).
RUN npm ci --no-audit --no-fund --strict-allow-scripts --omit=optional
COPY . .
RUN npm run build

# ---- runtime: production dependencies, the build, and the files the server reads at start
FROM base AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/var/lib/tessera
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund --strict-allow-scripts \
 && npm cache clean --force
# What the server reads from the project root (found as the folder holding package.json):
#   dist/                                         the compiled server, migrations included
#   schema/*.graphql                              the SDL (src/server.ts loadTypeDefs)
#   clients/desktop/persisted-operations.json     the desktop operations manifest (src/platform/graphql/persisted.ts), made by the build
#   src/modules/accounts/common-passwords.txt     refused passwords (src/modules/accounts/passwords.ts)
COPY --from=build /app/dist ./dist
COPY --from=build /app/schema ./schema
COPY --from=build /app/clients/desktop/persisted-operations.json ./clients/desktop/persisted-operations.json
COPY --from=build /app/src/modules/accounts/common-passwords.txt ./src/modules/accounts/common-passwords.txt
# A dedicated user; DATA_DIR (mail files without SMTP_URL, a generated app secret without APP_SECRET) is its only writable folder.
RUN groupadd --system tessera \
 && useradd --system --gid tessera --home-dir /var/lib/tessera --shell /usr/sbin/nologin tessera \
 && mkdir -p /var/lib/tessera \
 && chown tessera:tessera /var/lib/tessera \
 && chmod 0700 /var/lib/tessera
USER tessera
VOLUME ["/var/lib/tessera"]
EXPOSE 4000
# Liveness only (/healthz answers while the process runs); readiness (/readyz, database and
# migrations) is what a load balancer or compose's depends_on should wait for. Slim has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server handles SIGTERM itself (it is PID 1 here, no npm or shell in between): it stops
# accepting, gives requests up to 30 s, closes sockets and the database. Give it 40 s (stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/cli.js", "serve"]
