# The relay as a small Node service. Build: docker build -t triplink-relay .
# Run:   docker run -p 8787:8787 -v relay-data:/data -e CONCUR_BASE_URL=… -e CONCUR_ACCESS_TOKEN=… -e RELAY_API_KEYS=… triplink-relay
FROM node:20-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts skips the extension's `wxt prepare`; better-sqlite3's own build runs in the rebuild.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production RELAY_HOST=0.0.0.0 RELAY_PORT=8787 RELAY_DB=/data/relay.sqlite
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.relay.json ./
COPY shared ./shared
COPY relay ./relay
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.RELAY_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# tsx runs the TypeScript sources directly; the relay's tsconfig does not depend on the extension's generated one.
ENV TSX_TSCONFIG_PATH=tsconfig.relay.json
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "relay/main.ts"]
