#!/usr/bin/env bash
# Submit one of the project's jobs with everything it needs:
#   ./spark-submit.sh [spark-submit options] jobs/<job>.py [job arguments]
# - sets up .venv and the Delta JARs on first use (scripts/bootstrap.sh, idempotent);
# - builds dist/chargeback_pipeline.zip (lib/ + expectations/ + conf/) and ships it with --py-files;
# - adds Delta (--jars from .cache/jars, plus the SQL extension and catalog);
# - passes every spark-submit option through; --master defaults to local[*]; a user's --jars,
#   --py-files, --driver-class-path and --driver-java-options are added to the script's own, not
#   put in their place.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$ROOT/scripts/bootstrap.sh"
bundle="$("$ROOT/.venv/bin/python" "$ROOT/scripts/build_bundle.py")"

spark_options=()
app_and_args=()
has_master=no
master="local[*]"
has_driver_memory=no
user_jars=""
user_py_files=""
user_java_options=""
user_class_path=""
while [ $# -gt 0 ]; do
  if [ ${#app_and_args[@]} -eq 0 ] && [[ "$1" != *.py ]]; then
    case "$1" in
      --verbose|-v|--supervise|--help|-h|--version) spark_options+=("$1"); shift; continue ;;
      --*=*) ;;
      --*) [ $# -ge 2 ] || { echo "spark-submit.sh: $1 needs a value" >&2; exit 2; } ;;
    esac
    # spark-submit keeps only the last --jars / --py-files / --driver-java-options, so the user's
    # values are merged into ours below instead of silently replacing the Delta JARs or the bundle.
    case "$1" in
      --master) has_master=yes; master="$2"; spark_options+=("$1" "$2"); shift 2 ;;
      --master=*) has_master=yes; master="${1#--master=}"; spark_options+=("$1"); shift ;;
      --driver-memory|--driver-memory=*) has_driver_memory=yes; spark_options+=("$1")
        [[ "$1" == *=* ]] || { spark_options+=("$2"); shift; }; shift ;;
      --jars) user_jars="$2"; shift 2 ;;
      --jars=*) user_jars="${1#--jars=}"; shift ;;
      --py-files) user_py_files="$2"; shift 2 ;;
      --py-files=*) user_py_files="${1#--py-files=}"; shift ;;
      --driver-class-path) user_class_path="$2"; shift 2 ;;
      --driver-class-path=*) user_class_path="${1#--driver-class-path=}"; shift ;;
      --driver-java-options) user_java_options="$2"; shift 2 ;;
      --driver-java-options=*) user_java_options="${1#--driver-java-options=}"; shift ;;
      --*=*) spark_options+=("$1"); shift ;;
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
# In local mode the driver JVM is also the executor that caches the validated rows; spark's 1g
# default spills most of a 10M-row run to disk. CHARGEBACK_LOCAL_DRIVER_MEMORY overrides 6g.
if [[ "$master" == local* ]] && [ "$has_driver_memory" = no ]; then
  spark_options+=(--driver-memory "${CHARGEBACK_LOCAL_DRIVER_MEMORY:-6g}")
fi
# Local mode writes every Delta and Parquet file through Hadoop's local file system, which forks a
# `chmod` per file and directory without Hadoop's native library (pip's pyspark has none): the
# project's NoForkLocalFileSystem (jvm/src) sets the same bits in-process. It must be on the JVM's
# own class path (Hadoop loads file systems before --jars are), hence driver-class-path.
class_path="$user_class_path"
if [[ "$master" == local* ]]; then
  class_path="$ROOT/.cache/localfs/chargeback-localfs.jar${user_class_path:+:$user_class_path}"
  spark_options+=(--conf spark.hadoop.fs.file.impl=chargeback.fs.NoForkLocalFileSystem)
fi
[ -z "$class_path" ] || spark_options+=(--driver-class-path "$class_path")

delta_jars="$(ls "$ROOT"/.cache/jars/*.jar | paste -sd, -)"
jars="$delta_jars${user_jars:+,$user_jars}"
py_files="$bundle${user_py_files:+,$user_py_files}"
# Spark splits these options on whitespace: a checkout path with a space would break the first one.
# -XX:-DontCompileHugeMethods: HotSpot never JIT-compiles a method over 8000 bytes of bytecode, and
# the code Spark generates for the readers' wide projections is bigger; left interpreted, reading
# a JSON source took 1.3-1.5x as long (docs/benchmarks.md). Executors get it too (a user's own
# --conf spark.executor.extraJavaOptions replaces it).
jit_options="-XX:-DontCompileHugeMethods"
# -XX:+UseParallelGC, in local mode only, where the driver JVM runs every task: a batch job wants
# throughput, and the parallel collector's cheaper write barriers and no concurrent marking made
# a full run at 1M 0.9x as long as with G1, Java 17's default (docs/benchmarks.md, twelfth
# session). Its pauses are longer, which a batch job does not mind. A user's own collector
# (-XX:+Use...GC in --driver-java-options) is kept instead: the JVM refuses two.
gc_options=""
if [[ "$master" == local* ]] && [[ "$user_java_options" != *-XX:+Use*GC* ]]; then
  gc_options=" -XX:+UseParallelGC"
fi
java_options="-Dlog4j2.configurationFile=file:$ROOT/conf/log4j2.properties $jit_options$gc_options${user_java_options:+ $user_java_options}"

# Executors on this machine (local mode, a loopback standalone cluster) use the project's venv;
# on a real cluster set PYSPARK_PYTHON yourself (docs/deploy.md).
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$ROOT/.venv/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$ROOT/.venv/bin/python}"
export SPARK_HOME="${SPARK_HOME:-$("$ROOT/.venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"

exec "$ROOT/.venv/bin/spark-submit" \
  --jars "$jars" \
  --py-files "$py_files" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  --conf spark.sql.variant.allowDuplicateKeys=true \
  --conf spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS \
  --driver-java-options "$java_options" \
  --conf "spark.executor.extraJavaOptions=$jit_options" \
  "${spark_options[@]}" \
  "${app_and_args[@]}"
