#!/usr/bin/env bash
# Idempotent set-up: .venv with the pinned packages, Delta's JARs cached in .cache/jars, and the
# project's small local-file-system JAR built into .cache/localfs (jvm/, compiled with javac).
# The second call is a no-op that takes a second: it only compares a hash and lists files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "[bootstrap] $*" >&2; }

PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON_BIN="$candidate"; break; fi
  done
fi
[ -n "$PYTHON_BIN" ] || { echo "bootstrap: no python3 found on PATH" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "bootstrap: no java on PATH (Spark needs Java 17)" >&2; exit 1; }

# --- Python packages -------------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON_BIN --version)"
  "$PYTHON_BIN" -m venv .venv
fi
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
have="$(cat .venv/.requirements.sha256 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
  log "installing pinned packages from requirements.txt (about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi

# --- Delta JARs, derived from the pins so they can never disagree ---------------------------
spark_version="$(sed -nE 's/^pyspark==([0-9.]+).*/\1/p' requirements.txt)"
delta_version="$(sed -nE 's/^delta-spark==([0-9.]+).*/\1/p' requirements.txt)"
spark_minor="$(echo "$spark_version" | cut -d. -f1,2)"
jar_dir=.cache/jars
artifacts=(
  "io.delta:delta-spark_${spark_minor}_2.13:${delta_version}"
  "io.delta:delta-storage:${delta_version}"
)
mkdir -p "$jar_dir"
for coordinate in "${artifacts[@]}"; do
  IFS=: read -r _group artifact version <<<"$coordinate"
  if [ ! -s "$jar_dir/${artifact}-${version}.jar" ]; then
    command -v mvn >/dev/null 2>&1 || { echo "bootstrap: mvn is needed once to fetch $coordinate" >&2; exit 1; }
    log "fetching $coordinate from Maven Central"
    mvn --batch-mode --quiet dependency:copy -Dartifact="$coordinate" -DoutputDirectory="$jar_dir" >&2 \
      || { echo "bootstrap: could not fetch $coordinate with mvn" >&2; exit 1; }
  fi
done
# Stale JARs of other versions would put two Delta builds on the classpath.
for jar in "$jar_dir"/*.jar; do
  keep=no
  for coordinate in "${artifacts[@]}"; do
    IFS=: read -r _group artifact version <<<"$coordinate"
    [ "$(basename "$jar")" = "${artifact}-${version}.jar" ] && keep=yes
  done
  [ "$keep" = yes ] || { log "removing stale $jar"; rm -f "$jar"; }
done

# --- The no-fork local file system (jvm/src): compiled against the venv's Hadoop classes --------
# Rebuilt when its source changes; spark-submit.sh and the tests put it on the driver's class path.
localfs_dir=.cache/localfs
localfs_src=jvm/src/chargeback/fs/NoForkLocalFileSystem.java
localfs_want="$(sha256sum "$localfs_src" | cut -d' ' -f1)"
if [ "$localfs_want" != "$(cat "$localfs_dir/source.sha256" 2>/dev/null || true)" ] \
    || [ ! -s "$localfs_dir/chargeback-localfs.jar" ]; then
  command -v javac >/dev/null 2>&1 || { echo "bootstrap: javac (a JDK 17) is needed to build $localfs_src" >&2; exit 1; }
  log "building $localfs_dir/chargeback-localfs.jar"
  rm -rf "$localfs_dir" && mkdir -p "$localfs_dir/classes"
  pyspark_jars="$(.venv/bin/python -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "jars"))')"
  javac -nowarn -cp "$pyspark_jars/*" -d "$localfs_dir/classes" "$localfs_src"
  jar cf "$localfs_dir/chargeback-localfs.jar" -C "$localfs_dir/classes" .
  echo "$localfs_want" > "$localfs_dir/source.sha256"
fi
