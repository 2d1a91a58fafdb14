# Every Tutti image, from one build. Pick the image with --target (the default is tutti):
#   docker build -t tutti .                                      the tutti command (operator, planner, executor…)
#   docker build --target conductor-loop -t conductor-loop .     the intent intake loop
#   docker build --target ci-fixer -t ci-fixer .                 the ci-fixer service (tutti sandbox serve)
#   docker build --target performer -t performer .               the reference performer server
FROM node:20-alpine AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.ts ./scripts/
COPY src ./src
COPY docs/contracts ./docs/contracts
COPY config/crd ./config/crd
RUN npm run build && npm prune --omit=dev --ignore-scripts

# distroless: no shell, no package manager; runs as the nonroot user (65532). Sandbox commands run
# in their own Jobs, never in these containers, so none needs git or a shell.
FROM gcr.io/distroless/nodejs20-debian12:nonroot AS base
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The seed's --schema path for the loop.
COPY --from=build /src/docs/contracts/intent.schema.json ./docs/contracts/intent.schema.json
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli/main.js"]

FROM base AS conductor-loop
EXPOSE 8080
ENTRYPOINT ["/nodejs/bin/node", "dist/src/cli/main.js", "conductor-loop"]

FROM base AS ci-fixer
EXPOSE 3001
CMD ["sandbox", "serve"]

FROM base AS performer
EXPOSE 9090
CMD ["performer-server"]

FROM base AS tutti
EXPOSE 8080
CMD ["--help"]
