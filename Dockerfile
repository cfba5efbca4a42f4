# One image for every chequered service; the command picks the role.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY services ./services
COPY data ./data
RUN pip install --no-cache-dir -c constraints.txt .
ENTRYPOINT ["chequered"]
CMD ["serve", "all"]
