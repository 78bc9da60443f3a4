#!/usr/bin/env bash
# Submit one of the project's jobs with everything it needs:
#   ./spark-submit.sh [spark-submit options] jobs/<job>.py [job arguments]
# - sets up .venv and the Delta JARs on first use (scripts/bootstrap.sh, idempotent);
# - builds dist/chargeback_pipeline.zip (lib/ + expectations/ + conf/) and ships it with --py-files;
# - adds Delta (--jars from .cache/jars, plus the SQL extension and catalog);
# - passes every spark-submit option through; --master defaults to local[*].
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$ROOT/scripts/bootstrap.sh"
bundle="$("$ROOT/.venv/bin/python" "$ROOT/scripts/build_bundle.py")"

spark_options=()
app_and_args=()
has_master=no
user_jars=""
while [ $# -gt 0 ]; do
  if [ ${#app_and_args[@]} -eq 0 ] && [[ "$1" != *.py ]]; then
    case "$1" in
      --master) has_master=yes; spark_options+=("$1" "$2"); shift 2 ;;
      --master=*) has_master=yes; spark_options+=("$1"); shift ;;
      --jars) user_jars="$2"; shift 2 ;;
      --jars=*) user_jars="${1#--jars=}"; shift ;;
      --*=*) spark_options+=("$1"); shift ;;
      --verbose|-v|--supervise) spark_options+=("$1"); shift ;;
      --*) spark_options+=("$1" "$2"); shift 2 ;;
      *) spark_options+=("$1"); shift ;;
    esac
  else
    app_and_args+=("$1"); shift
  fi
done
if [ ${#app_and_args[@]} -eq 0 ]; then
  echo "usage: spark-submit.sh [spark-submit options] jobs/<job>.py [job arguments]" >&2
  exit 2
fi
[ "$has_master" = yes ] || spark_options=(--master "local[*]" "${spark_options[@]+"${spark_options[@]}"}")

delta_jars="$(ls "$ROOT"/.cache/jars/*.jar | paste -sd, -)"
jars="$delta_jars${user_jars:+,$user_jars}"

# Executors on this machine (local mode, a loopback standalone cluster) use the project's venv;
# on a real cluster set PYSPARK_PYTHON yourself (docs/deploy.md).
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$ROOT/.venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$ROOT/.venv/bin/python}"
export SPARK_HOME="${SPARK_HOME:-$("$ROOT/.venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"

exec "$ROOT/.venv/bin/spark-submit" \
  --jars "$jars" \
  --py-files "$bundle" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --driver-java-options "-Dlog4j2.configurationFile=file:$ROOT/conf/log4j2.properties" \
  "${spark_options[@]}" \
  "${app_and_args[@]}"
