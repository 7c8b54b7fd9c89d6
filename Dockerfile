# The relay as a small Node service, on the current Node.js LTS line (26; the relay's tests also run
# on it: test/node-lts/). Build: docker build -t triplink-relay .
# Run:   docker run -p 8787:8787 -v relay-data:/data -e CONCUR_BASE_URL=… -e CONCUR_ACCESS_TOKEN=… -e RELAY_API_KEYS=… -e RELAY_VAULT_KEY=… triplink-relay
FROM node:26-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts skips the extension's `wxt prepare`; better-sqlite3's own build runs in the rebuild.
RUN npm ci --omit=dev --ignore-scripts && npm rebuild better-sqlite3

# The relay and its dependencies bundled into one ESM file by esbuild (a dev dependency, so only here).
FROM node:26-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.relay.json ./
COPY shared ./shared
COPY relay ./relay
RUN npm run build:relay

FROM node:26-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production RELAY_HOST=0.0.0.0 RELAY_PORT=8787 RELAY_DB=/data/relay.sqlite
# The bundle needs only better-sqlite3 (a native addon, left outside it) from node_modules.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.RELAY_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
# --max-semi-space-size=2: V8's young generation grows to 16 MB per semi-space during a poll's burst
# of allocations and keeps it while idle; capped at 2 MB, an idle relay holding 1,000 requests has
# about 10 MB less RSS (test/bench/footprint.ts), for more frequent, cheap scavenges under load.
# The systemd unit and `npm run relay` start it the same way (test/process/bundle.test.ts checks).
CMD ["node", "--max-semi-space-size=2", "dist/relay.mjs"]
