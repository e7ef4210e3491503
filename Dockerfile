# One image for the server and the simulator: `docker compose up` builds it once.
FROM node:20-bookworm
WORKDIR /app
RUN npm install -g pnpm@10.34.9
COPY . .
RUN pnpm install --frozen-lockfile
EXPOSE 8080 4010 34431
CMD ["pnpm", "start"]
