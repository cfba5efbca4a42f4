# One image for every chequered service; the command picks the role.
# Built in the full Python image, which has the C compiler the classification core is compiled with (mypyc:
# services/classification/compiled.py), as `make install` does; run from the slim one, without mypy.
FROM python:3.11 AS build
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY services ./services
COPY data ./data
RUN python -m venv /opt/chequered \
 && /opt/chequered/bin/pip install --no-cache-dir -c constraints.txt -e . mypy \
 && /opt/chequered/bin/python -m services.classification.compiled \
 && /opt/chequered/bin/pip uninstall --yes mypy

FROM python:3.11-slim
COPY --from=build /opt/chequered /opt/chequered
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/chequered/bin:$PATH
ENTRYPOINT ["chequered"]
CMD ["serve", "all"]
