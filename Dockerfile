# Build stage: compile src/ to dist/ with the dev dependencies (typescript).
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# Runtime: production dependencies, the compiled server and the migrations; no TypeScript, no tsx.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PUPPETEER_SKIP_DOWNLOAD=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
# dist/db/database.js reads the migrations from ../../drizzle, i.e. /app/drizzle.
COPY drizzle ./drizzle
# The image holds a finished build and no TypeScript: `npm start`, `npm run migrate` and
# `npm run admin:create` run their command without their `npm run build` pre-step.
ENV npm_config_ignore_scripts=true
EXPOSE 3000
# node directly (not npm start, which would build first): it gets SIGTERM from `docker stop` itself.
CMD ["node", "dist/main.js"]
