"""Build dist/chargeback_pipeline.zip, the --py-files bundle: lib/ plus expectations/ and conf/.

Files are added in sorted order with a fixed timestamp so the same tree gives the same bytes.
Prints the bundle's path.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "dist" / "chargeback_pipeline.zip"
CONTENT = ("lib", "expectations", "conf")


def bundle_files() -> list[Path]:
    files = []
    for folder in CONTENT:
        files += [
            p for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(files)


def build() -> Path:
    BUNDLE.parent.mkdir(exist_ok=True)
    # A private temporary name: two submissions at once (a test and a demo) must not collide.
    handle, tmp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".zip", dir=BUNDLE.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in bundle_files():
            info = zipfile.ZipInfo(str(path.relative_to(ROOT)), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, path.read_bytes())
    tmp.replace(BUNDLE)
    return BUNDLE


if __name__ == "__main__":
    print(build())
